using System.Globalization;
using System.Text.Json.Serialization;

namespace Slim.Compression.Quantization;

/// <summary>
/// The one record of a quantized conv/linear layer: calibration (<see cref="PostTrainingQuantizer"/>) and
/// quantization-aware training (<see cref="QuantizationResult.ToFakeQuant"/>) produce it, quant.json holds it
/// whole, and the INT8 (ONNX QDQ) export consumes it. For input x (NCHW for a conv, [..., in] for a linear)
/// the layer computes, with W and b the float weight and bias after folding any BatchNorm (the float twin's):
/// <code>
/// xq = clamp(round_half_even(x / InputScale) + InputZeroPoint, InputQuantMin, InputQuantMax)     (QuantizeLinear)
/// x' = (xq − InputZeroPoint) · InputScale                                                        (DequantizeLinear)
/// wq[c] = clamp(round_half_even(W[c] / WeightScales[c]), WeightQuantMin, WeightQuantMax), zero point 0, axis 0
/// y  = Conv(x', wq · WeightScales, b; Stride, Padding, Dilation, Groups)   or   y = x' · (wq · WeightScales)ᵀ + b
/// </code>
/// Weights are not part of the record: they are the float twin checkpoint's (see
/// <see cref="QuantizationResult.Folded"/>). Equality compares the arrays element by element.
/// </summary>
public sealed record QuantizedLayer
{
    /// <summary>The module path of the layer ("backbone.conv1.conv").</summary>
    public required string ModulePath { get; init; }
    /// <summary>"Conv2d" or "Linear".</summary>
    public required string LayerType { get; init; }
    /// <summary>Full name of the weight parameter ("backbone.conv1.conv.weights").</summary>
    public required string WeightParameter { get; init; }
    /// <summary>Full name of the bias parameter, or null when the layer has none (a folded bias then lives in the folded BN).</summary>
    public string? BiasParameter { get; init; }
    /// <summary>The path of the BatchNorm2d folded into this conv (an identity in the quantized model, identity-plus-bias in the twin), or null.</summary>
    public string? FoldedBatchNorm { get; init; }

    /// <summary>The weight's shape ([out, in/groups, k, k] or [out, in]).</summary>
    public required long[] WeightShape { get; init; }
    /// <summary>Weight scale per output channel (axis 0), for the folded weight: max |w_c| / 127.</summary>
    public required float[] WeightScales { get; init; }
    /// <summary>Smallest weight code.</summary>
    public long WeightQuantMin { get; init; } = Int8Grid.WeightMin;
    /// <summary>Largest weight code.</summary>
    public long WeightQuantMax { get; init; } = Int8Grid.WeightMax;

    /// <summary>Input activation scale (threshold / 127, or threshold / 255 for a uint8 input).</summary>
    public required float InputScale { get; init; }
    /// <summary>Input zero point (0 for Slim's own symmetric activations).</summary>
    public int InputZeroPoint { get; init; }
    /// <summary>Input integer type.</summary>
    public required QuantDType InputType { get; init; }
    /// <summary>Smallest input code: the type's (ONNX QuantizeLinear saturates there).</summary>
    [JsonIgnore]
    public long InputQuantMin => Int8Grid.Min(InputType);
    /// <summary>Largest input code: the type's.</summary>
    [JsonIgnore]
    public long InputQuantMax => Int8Grid.Max(InputType);

    /// <summary>Conv stride (1 for a linear).</summary>
    public long Stride { get; init; } = 1;
    /// <summary>Conv padding on every side (0 for a linear).</summary>
    public long Padding { get; init; }
    /// <summary>Conv dilation (1 for a linear).</summary>
    public long Dilation { get; init; } = 1;
    /// <summary>Conv groups (1 for a linear).</summary>
    public long Groups { get; init; } = 1;

    /// <summary>
    /// The int8 codes of a weight of <see cref="WeightShape"/> (row-major): round half to even, as ONNX
    /// QuantizeLinear and ATen's fake quantization do, clamped to the weight grid. The one computation of the
    /// codes, used by the exporter and by tests.
    /// </summary>
    public sbyte[] QuantizeWeight(ReadOnlySpan<float> weight)
    {
        long outputs = WeightShape[0];
        if (outputs != WeightScales.Length || weight.Length % outputs != 0)
            throw new QuantizationException($"{ModulePath}: a weight of {weight.Length} values does not fit {WeightScales.Length} weight scales");
        var codes = new sbyte[weight.Length];
        long perChannel = weight.Length / outputs;
        for (int i = 0; i < weight.Length; i++)
        {
            double q = Math.Round(weight[i] / (double)WeightScales[i / perChannel], MidpointRounding.ToEven);
            codes[i] = (sbyte)Math.Clamp(q, WeightQuantMin, WeightQuantMax);
        }
        return codes;
    }

    /// <summary>Throws a <see cref="QuantizationException"/> naming the first field that no INT8 layer can have.</summary>
    public void Validate()
    {
        var inv = CultureInfo.InvariantCulture;
        if (string.IsNullOrEmpty(ModulePath)) throw new QuantizationException("module_path is empty");
        if (LayerType is not ("Conv2d" or "Linear"))
            throw new QuantizationException($"{ModulePath}: layer_type is '{LayerType}'; expected Conv2d or Linear");
        if (string.IsNullOrEmpty(WeightParameter)) throw new QuantizationException($"{ModulePath}: weight_parameter is empty");
        if (WeightShape is null || WeightShape.Length < 2 || WeightShape.Any(d => d <= 0))
            throw new QuantizationException($"{ModulePath}: weight_shape [{string.Join(", ", WeightShape ?? Array.Empty<long>())}] is not a positive shape of rank 2 or more");
        if (WeightScales is null || WeightScales.Length != WeightShape[0])
            throw new QuantizationException($"{ModulePath}: weight_scales has {WeightScales?.Length ?? 0} values; expected one per output channel ({WeightShape[0]})");
        int bad = Array.FindIndex(WeightScales, s => !(s > 0) || !float.IsFinite(s));
        if (bad >= 0)
            throw new QuantizationException($"{ModulePath}: weight_scales[{bad}] = {WeightScales[bad].ToString(inv)}; scales must be positive and finite");
        if (WeightQuantMin < -128 || WeightQuantMax > 127 || WeightQuantMin >= WeightQuantMax)
            throw new QuantizationException($"{ModulePath}: weight grid [{WeightQuantMin}, {WeightQuantMax}] is not an int8 range; Slim writes [-63, 63] (7-bit) or [-127, 127] (8-bit)");
        if (!(InputScale > 0) || !float.IsFinite(InputScale))
            throw new QuantizationException($"{ModulePath}: input_scale = {InputScale.ToString(inv)}; it must be positive and finite");
        if (!Enum.IsDefined(InputType))
            throw new QuantizationException($"{ModulePath}: input_type {(int)InputType} is neither int8 nor uint8");
        if (InputZeroPoint < InputQuantMin || InputZeroPoint > InputQuantMax)
            throw new QuantizationException($"{ModulePath}: input_zero_point = {InputZeroPoint} lies outside [{InputQuantMin}, {InputQuantMax}] of {InputType}");
        if (Stride < 1 || Padding < 0 || Dilation < 1 || Groups < 1)
            throw new QuantizationException($"{ModulePath}: conv geometry stride {Stride}, padding {Padding}, dilation {Dilation}, groups {Groups} is invalid");
    }

    /// <summary>Field by field, arrays element by element.</summary>
    public bool Equals(QuantizedLayer? other) =>
        other is not null && ModulePath == other.ModulePath && LayerType == other.LayerType && WeightParameter == other.WeightParameter
        && BiasParameter == other.BiasParameter && FoldedBatchNorm == other.FoldedBatchNorm
        && WeightShape.AsSpan().SequenceEqual(other.WeightShape) && WeightScales.AsSpan().SequenceEqual(other.WeightScales)
        && WeightQuantMin == other.WeightQuantMin && WeightQuantMax == other.WeightQuantMax
        && InputScale.Equals(other.InputScale) && InputZeroPoint == other.InputZeroPoint && InputType == other.InputType
        && Stride == other.Stride && Padding == other.Padding && Dilation == other.Dilation && Groups == other.Groups;

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(ModulePath, WeightScales.Length, InputScale, InputType);
}
