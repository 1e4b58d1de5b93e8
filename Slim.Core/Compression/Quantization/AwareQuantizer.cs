using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// Quantization-aware training (slim quant --mode aware): swaps each selected Conv2d (with its
/// following BatchNorm2d) for a <see cref="QuantConv2d"/> and each selected Linear for a
/// <see cref="QuantLinear"/>; the folded BN's place is taken by an identity so the model's own
/// forward still runs. The prepared model is then fine-tuned by the usual trainer; call
/// <see cref="FreezeBatchNorm"/> at the configured step, and <see cref="QuantizationResult.ToFakeQuant"/> at the end.
/// </summary>
public static class AwareQuantizer
{
    /// <summary>
    /// Prepares model in place for quantization-aware training and returns the plan (the report).
    /// forward runs the model on one batch (sample) for tracing. Create the optimizer afterwards:
    /// the quantized layers hold new parameter tensors.
    /// </summary>
    public static QuantizationPlan Prepare(nn.Module model, QuantizationOptions options, Func<Tensor, IEnumerable<Tensor>> forward, Tensor sample)
    {
        var plan = LayerSelector.Select(model, options, forward, sample);
        Replace(model, plan, (layer, conv, bn) => QuantConv2d.ForTraining(layer.Path, conv, bn, layer.BatchNormPath, options.ObserverMomentum),
            (layer, linear) => new QuantLinear(layer.Path, linear, options.ObserverMomentum), disposeBatchNorm: false, options.ObserverMomentum);
        SetWeightBits(model, options.WeightBits);
        return plan;
    }

    /// <summary>Sets every quantized layer's weight grid to <paramref name="bits"/> bits (see <see cref="Int8Grid.WeightMaxOf"/>).</summary>
    public static void SetWeightBits(nn.Module model, int bits)
    {
        long max = Int8Grid.WeightMaxOf(bits);
        foreach (var q in model.modules().OfType<QuantLayer>()) q.WeightQuantMax = max;
    }

    /// <summary>Freezes the BN statistics of every quantized conv (Jacob et al.'s BN freeze): training then uses running statistics.</summary>
    public static int FreezeBatchNorm(nn.Module model)
    {
        int n = 0;
        foreach (var m in model.modules().OfType<QuantConv2d>())
        {
            m.Freeze();
            n++;
        }
        return n;
    }

    /// <summary>
    /// Swaps the plan's quantized layers for the layers the factories make, and the folded BNs
    /// for identities, or for a <see cref="QuantPoint"/> where the plan puts one on the conv's output;
    /// the plan's merges (concats, residual adds) become <see cref="QuantMerge"/>s. The old conv/linear modules are disposed
    /// (their tensors were copied); a BN is disposed only when disposeBatchNorm (post-training folds it
    /// for real; aware training adopts it as a child).
    /// </summary>
    internal static void Replace(nn.Module model, QuantizationPlan plan, Func<QuantLayerDecision, Conv2d, BatchNorm2d?, QuantLayer> convFactory,
        Func<QuantLayerDecision, Linear, QuantLayer> linearFactory, bool disposeBatchNorm, double observerMomentum)
    {
        var outputPoints = plan.Points.Where(p => p.Kind == QuantPointKind.ConvOutput).Select(p => p.Path).ToHashSet(StringComparer.Ordinal);
        using var scope = NewDisposeScope();
        foreach (var layer in plan.Quantized)
        {
            var module = model.get_submodule(layer.Path);
            QuantLayer replacement;
            BatchNorm2d? bn = layer.BatchNormPath is null ? null : (BatchNorm2d)model.get_submodule(layer.BatchNormPath);
            if (module is Conv2d conv) replacement = convFactory(layer, conv, bn);
            else if (module is Linear linear) replacement = linearFactory(layer, linear);
            else throw new QuantizationException($"'{layer.Path}' is a {module.TypeName}, not a Conv2d or Linear: the plan does not fit this model");
            replacement.train(model.training);
            ModuleSwap.Replace(model, layer.Path, replacement).Dispose();
            if (bn is not null)
            {
                nn.Module slot = outputPoints.Remove(layer.BatchNormPath!)
                    ? new QuantPoint(layer.BatchNormPath!, observerMomentum)
                    : new Activation(ActivationKind.Identity);
                slot.train(model.training);
                ModuleSwap.Replace(model, layer.BatchNormPath!, slot);
                if (disposeBatchNorm) bn.Dispose();
            }
        }
        if (outputPoints.Count > 0)
            throw new QuantizationException($"the plan puts a quantization point on '{outputPoints.First()}', which is not the batch norm of a quantized conv");
        foreach (var point in plan.Points.Where(p => p.Kind == QuantPointKind.MergeInputs))
        {
            if (model.get_submodule(point.Path) is not Merge merge)
                throw new QuantizationException($"'{point.Path}' is not a float concat or add module: the plan does not fit this model");
            var replacement = new QuantMerge(point.Path, merge, point.Inputs, observerMomentum);
            replacement.train(model.training);
            ModuleSwap.Replace(model, point.Path, replacement).Dispose();
        }
    }
}
