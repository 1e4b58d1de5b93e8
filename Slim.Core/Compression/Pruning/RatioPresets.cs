namespace Slim.Compression.Pruning;

/// <summary>
/// Named ratio lists of the YOLOv3 model zoo, for its 18 head convolutions in the order
/// <c>yolo_block.{0,1,2}.{0.0, 0.1, 1.0, 1.1, 2, tip}.conv.weights</c>.
/// </summary>
public static class RatioPresets
{
    /// <summary>The 18 YOLOv3 head parameters the presets apply to, in preset order.</summary>
    public static IReadOnlyList<string> YoloHeadParameters { get; } =
        Enumerable.Range(0, 3).SelectMany(i => new[] { "0.0", "0.1", "1.0", "1.1", "2", "tip" }
            .Select(s => $"yolo_block.{i}.{s}.conv.weights")).ToList();

    private static readonly Dictionary<string, double[]> Presets = new(StringComparer.Ordinal)
    {
        ["r578"] = Enumerable.Repeat(0.5, 6).Concat(Enumerable.Repeat(0.7, 6)).Concat(Enumerable.Repeat(0.8, 6)).ToArray(),
        ["sensity"] = new[]
        {
            0.1, 0.2, 0.2, 0.2, 0.2, 0.1,
            0.2, 0.3, 0.3, 0.3, 0.2, 0.1,
            0.3, 0.4, 0.4, 0.4, 0.4, 0.3,
        },
    };

    public static IReadOnlyList<string> Names => Presets.Keys.ToList();

    /// <summary>The ratios of a preset, or null when name is not one.</summary>
    public static IReadOnlyList<double>? Find(string name) => Presets.TryGetValue(name.Trim(), out var r) ? r : null;
}
