using Slim.Compression.Quantization;

namespace Slim.Pipeline;

/// <summary>
/// The content of a quant stage's <c>quant.json</c>, serialised whole by <see cref="QuantFile"/>: how the
/// model was quantized, the <see cref="QuantizedLayer"/> record of every quantized layer (what the INT8
/// export reads) and the layer report (every Conv2d/Linear, quantized or kept in float, and why). Weights are
/// not in it: they are the float twin checkpoint's. Every field is written; a reader refuses a file that
/// lacks one, has one it does not know, or has another <see cref="Version"/>.
/// </summary>
public sealed record QuantDocument
{
    /// <summary>Always <see cref="QuantFile.Format"/>: tells a quant.json from other JSON.</summary>
    public string Format { get; init; } = QuantFile.Format;
    /// <summary>The format version (<see cref="QuantFile.Version"/> when written by this Slim).</summary>
    public int Version { get; init; } = QuantFile.Version;
    /// <summary>How the parameters were obtained (aware, post).</summary>
    public required QuantMode Mode { get; init; }
    /// <summary>How the input thresholds were chosen ("moving_average_abs_max", "abs_max", "kl", …).</summary>
    public required string Algorithm { get; init; }
    /// <summary>The percentile of the hist calibration, null for every other algorithm.</summary>
    public double? Percentile { get; init; }
    /// <summary>File name of the float twin checkpoint beside quant.json, whose weights the records' scales belong to.</summary>
    public required string TwinCheckpoint { get; init; }
    /// <summary>The not_quant patterns used.</summary>
    public required IReadOnlyList<string> NotQuant { get; init; }
    /// <summary>Whether the output layers were quantized too.</summary>
    public required bool QuantOutput { get; init; }
    /// <summary>The quantized layers, in module order.</summary>
    public required IReadOnlyList<QuantizedLayer> Layers { get; init; }
    /// <summary>The quantization points on activations (conv outputs, concat inputs), in module order.</summary>
    public required IReadOnlyList<QuantizedActivation> Activations { get; init; }
    /// <summary>Why each quantization point is there.</summary>
    public required IReadOnlyList<QuantPointDecision> PointReport { get; init; }
    /// <summary>Every Conv2d/Linear of the model, in module order: quantized or not, and why.</summary>
    public required IReadOnlyList<QuantLayerDecision> Report { get; init; }

    /// <summary>The records as a result (no folded weights: those are the twin checkpoint's), what the INT8 export takes.</summary>
    public QuantizationResult ToResult() => new(Mode, Algorithm, Layers, null, Activations);
}
