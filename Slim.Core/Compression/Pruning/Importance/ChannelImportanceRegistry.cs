namespace Slim.Compression.Pruning.Importance;

/// <summary>The pruning criteria by name; a run picks one with <see cref="Get"/>.</summary>
public static class ChannelImportanceRegistry
{
    private static readonly Dictionary<string, Func<IChannelImportance>> Factories = new(StringComparer.Ordinal)
    {
        ["l1_norm"] = () => new L1NormImportance(),
        ["geometry_median"] = () => new GeometryMedianImportance(),
        ["bn_scale"] = () => new BnScaleImportance(),
    };

    private static readonly object Lock = new();

    /// <summary>Names of the registered criteria.</summary>
    public static IReadOnlyList<string> Names
    {
        get { lock (Lock) return Factories.Keys.ToList(); }
    }

    /// <summary>The criterion called name; an unknown name fails listing the valid ones and the nearest.</summary>
    public static IChannelImportance Get(string name)
    {
        lock (Lock)
        {
            if (Factories.TryGetValue(name, out var f)) return f();
            var near = Slim.Common.Suggest.Ranked(name, Factories.Keys, 1);
            throw new PruningException($"unknown pruning criterion '{name}': expected one of {string.Join(", ", Factories.Keys)}" +
                (near.Count > 0 ? $" (did you mean '{near[0]}'?)" : ""));
        }
    }

    /// <summary>Adds a criterion under its name (replacing none: a duplicate name is an error).</summary>
    public static void Register(string name, Func<IChannelImportance> factory)
    {
        lock (Lock)
        {
            if (!Factories.TryAdd(name, factory)) throw new ArgumentException($"a pruning criterion named '{name}' is already registered");
        }
    }
}
