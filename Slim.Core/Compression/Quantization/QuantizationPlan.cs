namespace Slim.Compression.Quantization;

/// <summary>The decision for one Conv2d or Linear layer: quantized or kept in float, and why.</summary>
/// <param name="Path">The module path ("backbone.conv1.conv").</param>
/// <param name="Type">The layer type ("Conv2d", "Linear").</param>
/// <param name="Quantized">Whether the layer is quantized.</param>
/// <param name="Reason">Why, in words for the report ("not_quant pattern 'se_block'", "output layer", "quantized (…)").</param>
/// <param name="BatchNormPath">The path of the BatchNorm2d that directly follows the conv and is folded into it, or null.</param>
public sealed record QuantLayerDecision(string Path, string Type, bool Quantized, string Reason, string? BatchNormPath);

/// <summary>Where a <see cref="QuantPoint"/> goes.</summary>
public enum QuantPointKind
{
    /// <summary>The batch-norm slot after a quantized conv: the conv's output (batch norm folded in) is quantized.</summary>
    ConvOutput,
    /// <summary>A <see cref="Slim.Torch.Modules.Merge"/> (concat, residual add) whose every input is quantized (<see cref="QuantMerge"/>).</summary>
    MergeInputs,
}

/// <summary>A quantization point on activations that are not a quantized layer's input.</summary>
/// <param name="Path">The module path: the batch norm slot ("yolo_block.0.0.0.bn") or the merge ("concat.0", "backbone.res2a.add").</param>
/// <param name="Kind">What is quantized there.</param>
/// <param name="Inputs">The number of merged inputs (1 for a conv output).</param>
/// <param name="Reason">Why, in words for the report ("conv output read by leaky_relu").</param>
public sealed record QuantPointDecision(string Path, QuantPointKind Kind, int Inputs, string Reason);

/// <summary>
/// Which layers of a model are quantized, in module order, and which activations besides the
/// layers' inputs get quantization points (so that ONNX Runtime can run the whole graph in int8).
/// <see cref="Rows"/> gives the report table (module, type, quantized, reason) for the CLI to print.
/// </summary>
public sealed class QuantizationPlan(IReadOnlyList<QuantLayerDecision> layers, IReadOnlyList<QuantPointDecision>? points = null)
{
    /// <summary>The quantization points on activations, in trace order.</summary>
    public IReadOnlyList<QuantPointDecision> Points { get; } = points ?? Array.Empty<QuantPointDecision>();

    /// <summary>The reason given for every quantized layer (<see cref="QuantizedMeaning"/> says once what it means).</summary>
    public const string QuantizedReason = "int8";

    /// <summary>What "int8" means for a layer, said once above the layer table.</summary>
    public const string QuantizedMeaning = "int8: weights per output channel at quant.weight_bits, the input per tensor (uint8 where it is never negative); \"folds\" names the batch norm folded into the weights";

    /// <summary>The column headers of <see cref="Rows"/>.</summary>
    public static readonly IReadOnlyList<string> Columns = new[] { "module", "type", "quantized", "reason" };

    /// <summary>Every Conv2d and Linear layer of the model, in module order.</summary>
    public IReadOnlyList<QuantLayerDecision> Layers { get; } = layers;

    /// <summary>The layers that are quantized.</summary>
    public IEnumerable<QuantLayerDecision> Quantized => Layers.Where(l => l.Quantized);

    /// <summary>The decision for the layer at path, or null when it is not a Conv2d/Linear.</summary>
    public QuantLayerDecision? Find(string path) => Layers.FirstOrDefault(l => l.Path == path);

    /// <summary>One row per layer: module path, type, "yes"/"no", reason (with the folded BN named).</summary>
    public IEnumerable<string[]> Rows() => Layers.Select(l => new[]
    {
        l.Path, l.Type, l.Quantized ? "yes" : "no",
        l.Quantized && l.BatchNormPath is not null ? $"{l.Reason}, folds {l.BatchNormPath}" : l.Reason,
    });
}
