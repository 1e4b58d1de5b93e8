using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// A conv or linear layer whose input activation is fake-quantized per tensor (see
/// <see cref="ActivationQuantizer"/>) and whose weight is fake-quantized per output channel.
/// </summary>
public abstract class QuantLayer : ActivationQuantizer
{
    /// <summary>Creates the input buffers. path is the module path, used in messages and the result.</summary>
    protected QuantLayer(string typeName, string path, double observerMomentum) : base(typeName, path, observerMomentum)
    {
    }

    /// <summary>The largest weight code (63 for 7-bit weights, 127 for 8-bit); the grid is [-max, max].</summary>
    public long WeightQuantMax { get; set; } = Int8Grid.WeightMax;

    /// <summary>The original layer type ("Conv2d", "Linear").</summary>
    public abstract string FloatType { get; }

    /// <summary>
    /// The bias as the INT8 file adds it: in eval mode with quantization on, on the int32 grid of step
    /// input_scale · weight_scale[c] (<see cref="Int8Grid.BiasCodes"/>; float only where a code would overflow
    /// int32, as in the file); in training (QAT) the float bias, which keeps learning. The value on the grid
    /// passes the gradient of the float bias through.
    /// </summary>
    protected Tensor? FileBias(Tensor? bias, Tensor weightScales)
    {
        if (bias is null) return null;
        if (training || !QuantizationEnabled) return bias.alias();
        float inputScale = (float)InputScale;
        var scales = weightScales.ToFloatArray();
        var codes = Int8Grid.BiasCodes(bias.detach().ToFloatArray(), inputScale, scales);
        if (codes is null) return bias.alias();
        var values = new float[codes.Length];
        for (int c = 0; c < codes.Length; c++) values[c] = codes[c] * Int8Grid.BiasStep(inputScale, scales[c]);
        using var cpu = tensor(values, bias.shape);
        using var onGrid = cpu.to(bias.device, bias.dtype);
        // Straight through: the value on the grid, the gradient of the float bias.
        using var delta = onGrid - bias.detach();
        return bias + delta;
    }

    /// <summary>The weight and bias the layer computes with in eval mode (BN folded in), before fake quantization.</summary>
    public abstract (Tensor Weight, Tensor? Bias) FoldedWeightAndBias();

    /// <summary>The parameter name of the weight relative to this module ("weights", "weight").</summary>
    public abstract string WeightName { get; }

    /// <summary>The parameter name of the bias relative to this module.</summary>
    public abstract string BiasName { get; }
}
