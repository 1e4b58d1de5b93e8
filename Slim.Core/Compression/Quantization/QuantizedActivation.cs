using System.Globalization;

namespace Slim.Compression.Quantization;

/// <summary>
/// The record of one quantization point on an activation (<see cref="QuantPoint"/>): the tensor that reaches
/// the point is quantized per tensor and dequantized again,
/// <code>
/// x' = (clamp(round_half_even(x / Scale) + ZeroPoint, min(Type), max(Type)) − ZeroPoint) · Scale
/// </code>
/// one QuantizeLinear/DequantizeLinear pair in the INT8 export. <see cref="Path"/> is the point's module path in
/// the quantized model: the batch-norm slot of a conv (<c>yolo_block.0.0.0.bn</c>, the conv's output with the
/// batch norm folded in) or an input of a concat or residual add (<c>concat.0.input1</c>). quant.json holds it whole.
/// </summary>
public sealed record QuantizedActivation
{
    /// <summary>The module path of the point.</summary>
    public required string Path { get; init; }
    /// <summary>The scale (threshold / 127, or threshold / 255 for a never-negative tensor).</summary>
    public required float Scale { get; init; }
    /// <summary>The zero point (0 for Slim's symmetric activations).</summary>
    public int ZeroPoint { get; init; }
    /// <summary>The integer type.</summary>
    public required QuantDType Type { get; init; }

    /// <summary>Throws a <see cref="QuantizationException"/> naming the first field no quantization point can have.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Path)) throw new QuantizationException("path is empty");
        if (!(Scale > 0) || !float.IsFinite(Scale))
            throw new QuantizationException($"{Path}: scale = {Scale.ToString(CultureInfo.InvariantCulture)}; it must be positive and finite");
        if (!Enum.IsDefined(Type))
            throw new QuantizationException($"{Path}: type {(int)Type} is neither int8 nor uint8");
        if (ZeroPoint < Int8Grid.Min(Type) || ZeroPoint > Int8Grid.Max(Type))
            throw new QuantizationException($"{Path}: zero_point = {ZeroPoint} lies outside [{Int8Grid.Min(Type)}, {Int8Grid.Max(Type)}] of {Type}");
    }
}
