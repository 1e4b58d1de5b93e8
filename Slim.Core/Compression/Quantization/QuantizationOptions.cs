namespace Slim.Compression.Quantization;

/// <summary>
/// What to quantize and how. Weights are always symmetric int8 per output channel (range
/// [-127, 127], zero point 0); input activations are int8 per tensor with zero point 0 and scale
/// threshold / 127 (uint8, threshold / 255, when never negative) — one format for every layer (see
/// <see cref="Int8Grid"/>), which ONNX QDQ and INT8 runtimes take as it is and which suits the signed
/// inputs of LeakyReLU/HardSwish networks.
/// </summary>
public sealed record QuantizationOptions
{
    /// <summary>Module path patterns kept in float: a Conv2d/Linear whose path contains one (substring match) stays float.</summary>
    public IReadOnlyList<string> NotQuant { get; init; } = Array.Empty<string>();

    /// <summary>Path patterns of the output layers (substring match); skipped unless <see cref="QuantOutput"/>.</summary>
    public IReadOnlyList<string> OutputPatterns { get; init; } = new[] { "yolo_output" };

    /// <summary>Quantize the output layers too.</summary>
    public bool QuantOutput { get; init; }

    /// <summary>Post-training: how the input thresholds are chosen from the calibration statistics.</summary>
    public CalibrationAlgo Algorithm { get; init; } = CalibrationAlgo.Hist;

    /// <summary>Post-training, hist: the fraction of |x| kept below the threshold.</summary>
    public double Percentile { get; init; } = 0.9999;

    /// <summary>Aware: the rate of PaddleSlim's moving_average_abs_max observer of the inputs.</summary>
    public double ObserverMomentum { get; init; } = 0.9;

    /// <summary>Weight bits: 7 (codes [-63, 63], exact in ONNX Runtime on every x86 CPU) or 8 (full int8; VNNI and ARM targets). See <see cref="Int8Grid.WeightMaxOf"/>.</summary>
    public int WeightBits { get; init; } = Int8Grid.DefaultWeightBits;

    /// <summary>Throws on values no algorithm can work with.</summary>
    public void Validate()
    {
        if (Percentile is <= 0 or > 1)
            throw new QuantizationException($"quant percentile {Percentile} is out of range: expected a fraction in (0, 1], e.g. 0.9999");
        if (ObserverMomentum is < 0 or >= 1)
            throw new QuantizationException($"quant observer momentum {ObserverMomentum} is out of range: expected [0, 1), e.g. 0.9");
        Int8Grid.WeightMaxOf(WeightBits);
        foreach (var p in NotQuant)
            if (string.IsNullOrWhiteSpace(p)) throw new QuantizationException("quant not_quant has an empty pattern: remove it or name a module path part such as 'se_block'");
    }
}
