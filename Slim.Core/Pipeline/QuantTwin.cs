using Slim.Compression.Quantization;
using Slim.Models;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

using Slim.Tasks;

namespace Slim.Pipeline;

/// <summary>
/// The float twin of a fake-quantized model: the family's model of the same architecture
/// (so <see cref="Slim.Tasks.ModelCheckpoint.Load(string)"/> rebuilds it from its metadata) holding, for every quantized
/// conv, the folded weight, and in place of the BatchNorm2d that was folded into it an
/// identity-with-offset (scale 1, offset = folded bias, mean 0, var 1 − ε, so that
/// (y − 0)/√(1 − ε + ε)·1 + b = y + b). Exporting the twin in FP32 and inserting
/// QuantizeLinear/DequantizeLinear on each quantized layer's input and weight (the scales of
/// quant.json) reproduces the fake-quantized model; every other tensor is the quantized
/// model's own (layers kept in float keep their trained weights).
/// </summary>
public static class QuantTwin
{
    /// <summary>Builds the twin of <paramref name="quantized"/> (a model finished by <see cref="QuantizationResult.ToFakeQuant"/>), in eval mode.</summary>
    public static nn.Module Build(Slim.Tasks.TaskFamily family, nn.Module quantized, QuantizationResult result, string architecture, ModelOptions options)
    {
        var twin = family.CreateModel(architecture, options);
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var source = quantized.state_dict();
            var target = twin.state_dict();
            var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var layer in result.Layers) SetLayer(twin, layer, result.Folded(layer.ModulePath), values);
            foreach (var key in target.Keys)
            {
                if (values.ContainsKey(key)) continue;
                if (!source.TryGetValue(key, out var t))
                    throw new QuantizationException($"the quantized model has no tensor '{key}' that the {architecture} twin needs: the quantization result does not belong to this architecture");
                values[key] = t;
            }
            twin.load_state_dict(values);
            twin.eval();
            return twin;
        }
        catch
        {
            twin.Dispose();
            throw;
        }
    }

    private static void SetLayer(nn.Module twin, QuantizedLayer layer, FoldedWeights folded, Dictionary<string, Tensor> values)
    {
        string prefix = layer.ModulePath.Length == 0 ? "" : layer.ModulePath + ".";
        var module = twin.get_submodule(layer.ModulePath);
        var weight = tensor(folded.Weight, folded.Shape);
        long outputs = folded.Shape[0];
        var bias = folded.Bias is null ? null : tensor(folded.Bias, outputs);
        switch (module)
        {
            case Conv2d conv:
                values[prefix + conv.WeightName] = weight;
                if (layer.FoldedBatchNorm is { } bnPath)
                {
                    if (twin.get_submodule(bnPath) is not BatchNorm2d bn)
                        throw new QuantizationException($"'{bnPath}' (folded into '{layer.ModulePath}') is not a BatchNorm2d in the twin");
                    string bnPrefix = bnPath + ".";
                    // The conv keeps no bias of its own: the whole folded bias is the BN's offset.
                    if (conv.bias is not null) values[prefix + conv.BiasName] = zeros(outputs);
                    values[bnPrefix + bn.WeightName] = ones(outputs);
                    values[bnPrefix + bn.BiasName] = bias ?? zeros(outputs);
                    values[bnPrefix + bn.MeanName] = zeros(outputs);
                    values[bnPrefix + bn.VarName] = full(new[] { outputs }, 1.0 - bn.eps);
                }
                else if (bias is not null)
                {
                    if (conv.bias is null)
                        throw new QuantizationException($"'{layer.ModulePath}' has a folded bias but neither a bias nor a batch norm to carry it in the twin");
                    values[prefix + conv.BiasName] = bias;
                }
                break;
            case Linear linear:
                values[prefix + linear.WeightName] = weight;
                if (bias is not null)
                {
                    if (linear.bias is null) throw new QuantizationException($"'{layer.ModulePath}' has a bias the twin's Linear lacks");
                    values[prefix + linear.BiasName] = bias;
                }
                break;
            default:
                throw new QuantizationException($"'{layer.ModulePath}' is a {module.TypeName} in the twin, not a Conv2d or Linear");
        }
    }
}
