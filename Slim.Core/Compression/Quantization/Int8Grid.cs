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
    /// <summary>The smallest weight code of the full 8-bit grid.</summary>
    public const long WeightMin = -127;

    /// <summary>The largest weight code of the full 8-bit grid; a weight channel's max |w| maps to it.</summary>
    public const long WeightMax = 127;

    /// <summary>Weight bits by default: 7 (codes [-63, 63]), exact in ONNX Runtime on every x86 CPU (see <see cref="WeightMaxOf"/>).</summary>
    public const int DefaultWeightBits = 7;

    /// <summary>
    /// The largest weight code of a symmetric grid of <paramref name="bits"/> bits (7 → 63, 8 → 127). Why 7 by
    /// default: ONNX Runtime's int8 convolution and matmul kernels on x86 CPUs without VNNI (AVX2, AVX-512F)
    /// multiply uint8 activations by int8 weights with VPMADDUBSW, which adds two products in a saturating
    /// int16: 255·127·2 overflows it, 255·63·2 does not (ONNX Runtime's quantizer calls this reduce_range).
    /// With 8 bits such a CPU computes something other than the fake-quantized model.
    /// </summary>
    public static long WeightMaxOf(int bits) => bits switch
    {
        7 => 63,
        8 => WeightMax,
        _ => throw new QuantizationException($"weight bits {bits}: Slim writes 7-bit (exact on every x86 CPU) or 8-bit (full int8, for VNNI and ARM targets) weights"),
    };

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

    /// <summary>
    /// The int32 codes of a quantized layer's bias, on the grid ONNX Runtime's QLinearConv/QGemm add it on (step
    /// input_scale · weight_scale[c], round half to even), or null when a code would overflow int32 (a tiny step
    /// under a sizeable bias). There is no keeping a bias in float because the grid is coarse: ONNX Runtime
    /// quantizes a float bias of a QDQ conv onto this very grid itself when it fuses the conv (measured: a file
    /// with 3 float biases ran 47/47 convs as QLinearConv). So the exporter writes these codes and the
    /// fake-quantized layer adds the same values (<see cref="QuantLayer"/>): one decision for both.
    /// </summary>
    public static int[]? BiasCodes(ReadOnlySpan<float> bias, float inputScale, ReadOnlySpan<float> weightScales)
    {
        if (bias.Length != weightScales.Length)
            throw new ArgumentException($"Int8Grid.BiasCodes: {bias.Length} bias values for {weightScales.Length} weight scales");
        var codes = new int[bias.Length];
        for (int c = 0; c < bias.Length; c++)
        {
            float step = BiasStep(inputScale, weightScales[c]);
            double v = Math.Round(bias[c] / (double)step, MidpointRounding.ToEven);
            if (!(v >= int.MinValue && v <= int.MaxValue)) return null;
            codes[c] = (int)v;
        }
        return codes;
    }

    /// <summary>The int32 bias step of an output channel: input_scale · weight_scale, in float32 as the file stores it.</summary>
    public static float BiasStep(float inputScale, float weightScale) => inputScale * weightScale;
}
