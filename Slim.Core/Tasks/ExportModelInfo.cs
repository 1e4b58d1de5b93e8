using System.Globalization;
using Slim.Models;

namespace Slim.Tasks;

/// <summary>What an exported model records besides its weights.</summary>
/// <param name="ClassNames">Class names in label order (null: not recorded).</param>
/// <param name="InputSize">Square input size in pixels the graph is traced with.</param>
/// <param name="ModelName">Name stored in the graph and the metadata.</param>
/// <param name="Mean">Per-channel normalization mean the data was fed with (null: the family's default).</param>
/// <param name="Std">Per-channel normalization standard deviation (null: the family's default).</param>
public sealed record ExportModelInfo(IReadOnlyList<string>? ClassNames, int InputSize, string ModelName,
    IReadOnlyList<float>? Mean = null, IReadOnlyList<float>? Std = null)
{
    /// <summary>Metadata key (in checkpoints and ONNX files) of the newline-separated class names.</summary>
    public const string ClassNamesKey = "dataset.class_names";

    /// <summary>Checkpoint metadata key of the comma-separated normalization mean.</summary>
    public const string MeanKey = "dataset.mean";

    /// <summary>Checkpoint metadata key of the comma-separated normalization standard deviation.</summary>
    public const string StdKey = "dataset.std";

    /// <summary>The normalization as metadata entries.</summary>
    public static Dictionary<string, string> NormalizationMetadata(IReadOnlyList<float> mean, IReadOnlyList<float> std) => new()
    {
        [MeanKey] = string.Join(",", mean.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
        [StdKey] = string.Join(",", std.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
    };

    /// <summary>From a checkpoint's metadata: model.input_size, and dataset.class_names / mean / std when present.</summary>
    public static ExportModelInfo FromMetadata(IReadOnlyDictionary<string, string> metadata, string modelName)
    {
        var key = ModelOptions.MetadataPrefix + "input_size";
        if (!metadata.TryGetValue(key, out var sizeText) || !int.TryParse(sizeText, NumberStyles.Integer, CultureInfo.InvariantCulture, out int size))
            throw new SlimException($"export: the checkpoint metadata has no usable '{key}' (got '{sizeText ?? "nothing"}'); export it with a recipe instead");
        IReadOnlyList<string>? names = metadata.TryGetValue(ClassNamesKey, out var joined) && joined.Length > 0
            ? joined.Split('\n')
            : null;
        return new ExportModelInfo(names, size, modelName, Floats(metadata, MeanKey), Floats(metadata, StdKey));
    }

    private static float[]? Floats(IReadOnlyDictionary<string, string> metadata, string key)
    {
        if (!metadata.TryGetValue(key, out var text) || text.Length == 0) return null;
        try
        {
            return text.Split(',').Select(v => float.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new SlimException($"checkpoint metadata '{key}' = '{text}' is not a comma-separated list of numbers");
        }
    }
}
