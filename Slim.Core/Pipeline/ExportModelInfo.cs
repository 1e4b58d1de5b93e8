using System.Globalization;
using Slim.Models;

namespace Slim.Pipeline;

/// <summary>What an exported detector records besides its weights.</summary>
/// <param name="ClassNames">Class names in label order (null: not recorded).</param>
/// <param name="InputSize">Square input size in pixels the graph is traced with (a multiple of 32).</param>
/// <param name="ModelName">Name stored in the graph and the metadata.</param>
public sealed record ExportModelInfo(IReadOnlyList<string>? ClassNames, int InputSize, string ModelName)
{
    /// <summary>From a checkpoint's metadata: model.input_size and dataset.class_names (when present).</summary>
    public static ExportModelInfo FromMetadata(IReadOnlyDictionary<string, string> metadata, string modelName)
    {
        var key = ModelOptions.MetadataPrefix + "input_size";
        if (!metadata.TryGetValue(key, out var sizeText) || !int.TryParse(sizeText, NumberStyles.Integer, CultureInfo.InvariantCulture, out int size))
            throw new SlimException($"export: the checkpoint metadata has no usable '{key}' (got '{sizeText ?? "nothing"}'); export it with a recipe instead");
        IReadOnlyList<string>? names = metadata.TryGetValue(ExportStage.ClassNamesKey, out var joined) && joined.Length > 0
            ? joined.Split('\n')
            : null;
        return new ExportModelInfo(names, size, modelName);
    }
}
