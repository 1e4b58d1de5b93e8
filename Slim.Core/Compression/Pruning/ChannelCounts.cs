using System.Text.Json;

namespace Slim.Compression.Pruning;

/// <summary>
/// The out_channels of every Conv2d of a (pruned) model by module path. Model constructors
/// take this map to rebuild a pruned architecture before loading its checkpoint; it travels in
/// the checkpoint's string metadata under <see cref="MetadataKey"/> as a JSON object.
/// </summary>
public sealed class ChannelCounts
{
    /// <summary>The checkpoint metadata key the map is stored under.</summary>
    public const string MetadataKey = "pruning.out_channels";

    public ChannelCounts(IReadOnlyDictionary<string, long> outChannels) =>
        OutChannels = new SortedDictionary<string, long>(outChannels.ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal);

    /// <summary>Conv module path → out_channels.</summary>
    public IReadOnlyDictionary<string, long> OutChannels { get; }

    /// <summary>The out_channels of every Conv2d in the model.</summary>
    public static ChannelCounts FromModel(Slim.Torch.torch.nn.Module model) =>
        new(model.named_modules().Where(m => m.module is Slim.Torch.Modules.Conv2d)
            .ToDictionary(m => m.name, m => ((Slim.Torch.Modules.Conv2d)m.module).out_channels));

    /// <summary>The map as a JSON object string, for checkpoint metadata.</summary>
    public string ToMetadata() => JsonSerializer.Serialize(OutChannels);

    /// <summary>Reads a map written by <see cref="ToMetadata"/>.</summary>
    public static ChannelCounts Parse(string metadata)
    {
        try
        {
            var d = JsonSerializer.Deserialize<Dictionary<string, long>>(metadata)
                ?? throw new PruningException($"checkpoint metadata '{MetadataKey}' is empty");
            return new ChannelCounts(d);
        }
        catch (JsonException e)
        {
            throw new PruningException($"checkpoint metadata '{MetadataKey}' is not a JSON object of channel counts ({JsonErrors.Describe(e)})");
        }
    }
}
