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
    /// input_scale · weight_scale[c] (<see cref="Int8Grid.BiasCodes"/>), unless that grid would move it too far,
    /// when the file keeps it in float too; in training (QAT) the float bias, which keeps learning.
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

    /// <summary>
    /// The layer's output in eval mode computed as ONNX Runtime's QLinearConv/QGemm compute it: the sum of
    /// products of the int8 codes, exact (in float64, where the sums of up to millions of products fit), times
    /// input_scale · weight_scale[c], plus the bias on its grid, rounded to float32 once. A float32 convolution of
    /// the dequantized values rounds at every addition instead, and each value that lands within that error of a
    /// rounding boundary of the next quantization flips one code against the INT8 file; flips cascade through
    /// the layers after it. <paramref name="x"/> and <paramref name="wq"/> are fake-quantized (on their grids);
    /// <paramref name="op"/> is the layer's computation without bias; <paramref name="rank"/> the output rank
    /// (4 for a conv, 2 for a linear).
    /// </summary>
    protected Tensor IntegerExact(Tensor x, Tensor wq, Tensor weightScales, Tensor? bias, Func<Tensor, Tensor, Tensor> op, int rank)
    {
        using var scope = NewDisposeScope();
        double inputScale = (float)InputScale;
        long outputs = weightScales.shape[0];
        var wShape = new long[wq.dim()];
        Array.Fill(wShape, 1L);
        wShape[0] = outputs;
        // Codes: the fake-quantized values divided by their (float32) scales, exactly integers after rounding.
        var xCodes = (x.to(ScalarType.Float64) / inputScale).round();
        var wCodes = (wq.to(ScalarType.Float64) / weightScales.to(ScalarType.Float64).view(wShape)).round();
        var acc = op(xCodes, wCodes);
        var outShape = new long[rank];
        Array.Fill(outShape, 1L);
        outShape[1] = outputs;
        // The per-channel step in float32 as the file's bias scale, then the product in float64.
        var step = (weightScales * (float)inputScale).to(ScalarType.Float64).view(outShape);
        var y = acc * step;
        if (bias is not null) y = y + bias.to(ScalarType.Float64).view(outShape);
        return y.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>The weight and bias the layer computes with in eval mode (BN folded in), before fake quantization.</summary>
    public abstract (Tensor Weight, Tensor? Bias) FoldedWeightAndBias();

    /// <summary>The parameter name of the weight relative to this module ("weights", "weight").</summary>
    public abstract string WeightName { get; }

    /// <summary>The parameter name of the bias relative to this module.</summary>
    public abstract string BiasName { get; }
}
