using System.Globalization;

namespace Slim.Models;

/// <summary>
/// Everything needed to build one of the registered architectures. It round-trips through a
/// string dictionary (<see cref="ToMetadata"/>, <see cref="FromMetadata"/>) so that a checkpoint's
/// metadata alone can rebuild the model, pruned channel counts included.
/// </summary>
public sealed record ModelOptions
{
    /// <summary>Prefix of every metadata key this record writes.</summary>
    public const string MetadataPrefix = "model.";

    private const string ChannelsPrefix = MetadataPrefix + "channels.";

    /// <summary>Object classes (detectors) or output logits (classifiers).</summary>
    public int NumClasses { get; init; } = 80;

    /// <summary>Width multiplier applied to every layer's default channel count (rounded to multiples of 8, at least 8).</summary>
    public double Width { get; init; } = 1.0;

    /// <summary>Square input side in pixels (a multiple of 32 for detectors); used by analysis and export.</summary>
    public int InputSize { get; init; } = 608;

    /// <summary>Input image channels (3 for RGB, 1 for Fashion-MNIST).</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Anchors per detection scale: each YOLO output has AnchorsPerScale·(5+NumClasses) channels.</summary>
    public int AnchorsPerScale { get; init; } = 3;

    /// <summary>
    /// Output channels by conv module path (<c>yolo_block.0.0.0.conv</c>, <c>backbone.conv2_1.pw.conv</c>),
    /// overriding the architecture's defaults; pruning fills this so a pruned model can be rebuilt.
    /// </summary>
    public IReadOnlyDictionary<string, int> ChannelOverrides { get; init; } = new Dictionary<string, int>();

    /// <summary>
    /// Which framework's form of the architecture to build where they differ (<see cref="ModelLayout"/>); null builds
    /// the architecture's own default (<see cref="ModelRegistry.DefaultLayout"/>).
    /// </summary>
    public ModelLayout? Layout { get; init; }

    /// <summary>Throws a <see cref="ModelException"/> naming the first option out of range.</summary>
    public void Validate(bool detector)
    {
        if (NumClasses < 1) throw new ModelException($"model option num_classes = {NumClasses}: must be at least 1");
        if (!(Width > 0 && Width <= 4)) throw new ModelException($"model option width = {Width.ToString(CultureInfo.InvariantCulture)}: must be in (0, 4]");
        if (InChannels < 1) throw new ModelException($"model option in_channels = {InChannels}: must be at least 1");
        if (AnchorsPerScale < 1) throw new ModelException($"model option anchors_per_scale = {AnchorsPerScale}: must be at least 1");
        if (detector && (InputSize < 32 || InputSize % 32 != 0))
            throw new ModelException($"model option input_size = {InputSize}: a detector needs a positive multiple of 32 (e.g. 320, 416, 608)");
        if (!detector && InputSize < 8)
            throw new ModelException($"model option input_size = {InputSize}: must be at least 8");
    }

    /// <summary>The options as metadata entries (<c>model.num_classes</c>, <c>model.channels.&lt;path&gt;</c>, …), architecture included.</summary>
    public Dictionary<string, string> ToMetadata(string architecture)
    {
        var d = new Dictionary<string, string>
        {
            [MetadataPrefix + "architecture"] = architecture,
            [MetadataPrefix + "num_classes"] = NumClasses.ToString(CultureInfo.InvariantCulture),
            [MetadataPrefix + "width"] = Width.ToString("R", CultureInfo.InvariantCulture),
            [MetadataPrefix + "input_size"] = InputSize.ToString(CultureInfo.InvariantCulture),
            [MetadataPrefix + "in_channels"] = InChannels.ToString(CultureInfo.InvariantCulture),
            [MetadataPrefix + "anchors_per_scale"] = AnchorsPerScale.ToString(CultureInfo.InvariantCulture),
        };
        if (Layout is { } layout) d[MetadataPrefix + "layout"] = LayoutName(layout);
        foreach (var (path, c) in ChannelOverrides.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            d[ChannelsPrefix + path] = c.ToString(CultureInfo.InvariantCulture);
        return d;
    }

    /// <summary>
    /// Reads what <see cref="ToMetadata"/> wrote; keys without the <c>model.</c> prefix are ignored (other
    /// stages keep their own metadata beside it). Missing or malformed keys fail with the key's name.
    /// </summary>
    public static (string architecture, ModelOptions options) FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        string Get(string key) => metadata.TryGetValue(MetadataPrefix + key, out var v)
            ? v
            : throw new ModelException($"checkpoint metadata lacks '{MetadataPrefix}{key}': the model cannot be rebuilt without it");

        int Int(string key)
        {
            var s = Get(key);
            return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
                ? v
                : throw new ModelException($"checkpoint metadata '{MetadataPrefix}{key}' = '{s}': expected an integer");
        }

        var widthText = Get("width");
        if (!double.TryParse(widthText, NumberStyles.Float, CultureInfo.InvariantCulture, out double width))
            throw new ModelException($"checkpoint metadata '{MetadataPrefix}width' = '{widthText}': expected a number");

        var overrides = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (key, value) in metadata)
        {
            if (!key.StartsWith(ChannelsPrefix, StringComparison.Ordinal)) continue;
            if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int c))
                throw new ModelException($"checkpoint metadata '{key}' = '{value}': expected an integer channel count");
            overrides[key[ChannelsPrefix.Length..]] = c;
        }

        ModelLayout? layout = null;
        if (metadata.TryGetValue(MetadataPrefix + "layout", out var layoutText))
            layout = ParseLayout(layoutText) ?? throw new ModelException($"checkpoint metadata '{MetadataPrefix}layout' = '{layoutText}': expected paddle or torchvision");

        var options = new ModelOptions
        {
            NumClasses = Int("num_classes"),
            Width = width,
            InputSize = Int("input_size"),
            InChannels = Int("in_channels"),
            AnchorsPerScale = Int("anchors_per_scale"),
            ChannelOverrides = overrides,
            Layout = layout,
        };
        return (Get("architecture"), options);
    }

    /// <summary>The layout's name in recipes and metadata: paddle or torchvision.</summary>
    public static string LayoutName(ModelLayout layout) => layout == ModelLayout.Paddle ? "paddle" : "torchvision";

    /// <summary>Reads paddle or torchvision; null for anything else.</summary>
    public static ModelLayout? ParseLayout(string text) => text switch
    {
        "paddle" => ModelLayout.Paddle,
        "torchvision" => ModelLayout.Torchvision,
        _ => null,
    };

    /// <summary>Records compare their override maps by content, not by reference.</summary>
    public bool Equals(ModelOptions? other) =>
        other is not null && NumClasses == other.NumClasses && Width.Equals(other.Width) && InputSize == other.InputSize &&
        InChannels == other.InChannels && AnchorsPerScale == other.AnchorsPerScale && Layout == other.Layout &&
        ChannelOverrides.Count == other.ChannelOverrides.Count &&
        ChannelOverrides.All(kv => other.ChannelOverrides.TryGetValue(kv.Key, out int v) && v == kv.Value);

    public override int GetHashCode() => HashCode.Combine(NumClasses, Width, InputSize, InChannels, AnchorsPerScale, Layout, ChannelOverrides.Count);
}
