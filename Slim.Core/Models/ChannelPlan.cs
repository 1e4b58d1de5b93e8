namespace Slim.Models;

/// <summary>
/// Decides each convolution's output channel count while a model is built: the architecture's
/// default, unless the override map (filled by pruning, saved in checkpoint metadata) names the
/// conv's module path. Overrides that no conv asked for are an error, so a mistyped path cannot
/// silently leave a layer at its original width.
/// </summary>
public sealed class ChannelPlan
{
    private readonly IReadOnlyDictionary<string, int> _overrides;
    private readonly HashSet<string> _used;
    private readonly string _prefix;

    /// <summary>A plan with the given overrides (conv module path → out_channels); null or empty means defaults everywhere.</summary>
    public ChannelPlan(IReadOnlyDictionary<string, int>? overrides = null)
        : this(overrides ?? new Dictionary<string, int>(), new HashSet<string>(StringComparer.Ordinal), "")
    {
        foreach (var (path, value) in _overrides)
            if (value < 1)
                throw new ModelException($"channel override '{path}' = {value}: out_channels must be at least 1");
    }

    private ChannelPlan(IReadOnlyDictionary<string, int> overrides, HashSet<string> used, string prefix)
    {
        _overrides = overrides;
        _used = used;
        _prefix = prefix;
    }

    /// <summary>A view of the same plan whose paths are relative to prefix (used by sub-networks such as the backbone).</summary>
    public ChannelPlan Scope(string name) => new(_overrides, _used, Join(name));

    /// <summary>The full module path of a conv named relative to this scope.</summary>
    public string Join(string path) => _prefix.Length == 0 ? path : path.Length == 0 ? _prefix : _prefix + "." + path;

    /// <summary>The out_channels of the conv at convPath: its override, or defaultChannels.</summary>
    public int Out(string convPath, int defaultChannels)
    {
        string full = Join(convPath);
        if (!_overrides.TryGetValue(full, out int v)) return defaultChannels;
        _used.Add(full);
        return v;
    }

    /// <summary>
    /// For a conv whose width the architecture fixes (a depthwise conv follows its input, a detection
    /// output has anchors·(5+classes) channels): an override may only repeat that value.
    /// </summary>
    public int Fixed(string convPath, int required, string why)
    {
        string full = Join(convPath);
        if (!_overrides.TryGetValue(full, out int v)) return required;
        _used.Add(full);
        if (v != required)
            throw new ModelException($"channel override '{full}' = {v} does not fit: {why}, so it must be {required}");
        return v;
    }

    /// <summary>Throws when an override named a path that no conv of the built model has.</summary>
    public void EnsureAllUsed(IEnumerable<string> convPaths)
    {
        var unknown = _overrides.Keys.Where(k => !_used.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (unknown.Count == 0) return;
        var valid = convPaths.ToList();
        var parts = unknown.Select(k =>
        {
            var near = Slim.Common.Suggest.Nearest(k, valid, 1).FirstOrDefault();
            return near is null ? $"'{k}'" : $"'{k}' (did you mean '{near}'?)";
        });
        throw new ModelException($"channel overrides name no conv of this model: {string.Join(", ", parts)}");
    }
}
