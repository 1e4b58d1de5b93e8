namespace Slim.Compression.Quantization;

/// <summary>
/// The integer grids of Slim's INT8 format, defined once: what <see cref="FakeQuant"/> simulates, what
/// <see cref="QuantizedLayer"/> records and what the ONNX QDQ export writes, so that the INT8 file computes
/// the fake-quantized model.
/// <para>
/// Weights are symmetric on [-127, 127], zero point 0: the codes are computed ahead of time (by
/// <see cref="QuantizedLayer.QuantizeWeight"/>), so the narrower range is exact in the file, and a sign flip
/// of a weight is exact. Activations are quantized at run time by ONNX QuantizeLinear, which saturates to
/// the whole type range; the fake quantizer therefore clamps an activation to the whole range too
/// ([-128, 127] for int8, [0, 255] for uint8), while its scale stays symmetric (threshold / 127 or
/// threshold / 255): a narrower clamp there could not be expressed in the file.
/// </para>
/// </summary>
public static class Int8Grid
{
    /// <summary>The smallest weight code.</summary>
    public const long WeightMin = -127;

    /// <summary>The largest weight code; a weight channel's max |w| maps to it.</summary>
    public const long WeightMax = 127;

    /// <summary>The largest code of a symmetric signed grid: a threshold t gives scale t / 127.</summary>
    public const long SignedMax = 127;

    /// <summary>The largest code of an unsigned grid (uint8, zero point 0): a threshold t gives scale t / 255.</summary>
    public const long UnsignedMax = 255;

    /// <summary>The smallest activation code of a type (ONNX QuantizeLinear's saturation bound).</summary>
    public static long Min(QuantDType type) => type == QuantDType.UInt8 ? 0 : -128;

    /// <summary>The largest activation code of a type.</summary>
    public static long Max(QuantDType type) => type == QuantDType.UInt8 ? UnsignedMax : SignedMax;

    /// <summary>The activation type of an input that is (unsigned) or is not ever negative.</summary>
    public static QuantDType TypeOf(bool unsigned) => unsigned ? QuantDType.UInt8 : QuantDType.Int8;
}
