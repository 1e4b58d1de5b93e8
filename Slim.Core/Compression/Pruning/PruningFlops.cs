namespace Slim.Compression.Pruning;

/// <summary>
/// MACs of the traced conv and linear calls (batch 1, bias not counted, as PaddleSlim counts
/// FLOPs) under a pruning given as the kept fraction of each group. An axis index carrying a
/// group channel counts as that fraction kept, which is exact when each channel of a group
/// appears equally often along an axis (true of every topology the graph follows).
/// </summary>
internal static class PruningFlops
{
    public static double Macs(ChannelDependencyGraph graph, Func<int, double>? keptFraction = null)
    {
        double total = 0;
        foreach (var n in graph.ComputeNodes) total += NodeMacs(n, keptFraction);
        return total;
    }

    /// <summary>MACs of one conv or linear call under the kept fractions (null: unpruned).</summary>
    public static double NodeMacs(ChannelDependencyGraph.ComputeNode n, Func<int, double>? keptFraction)
    {
        double cout = Kept(n.OutAxis, n.OutChannels, keptFraction);
        double cin = Kept(n.InAxis, n.InChannels, keptFraction);
        if (n.IsLinear || n.Groups == 1) return cout * cin * n.MacsPerChannelPair;
        if (n.InAxis is not null && ReferenceEquals(n.InAxis, n.OutAxis)) return cout * n.MacsPerChannelPair; // depthwise
        return n.OutChannels * (n.InChannels / n.Groups) * n.MacsPerChannelPair;
    }

    private static double Kept(ChannelDependencyGraph.AxisRef? axis, long full, Func<int, double>? keptFraction)
    {
        if (axis is null || keptFraction is null) return full;
        double kept = 0;
        foreach (var g in axis.GroupOfPosition) kept += g < 0 ? 1 : keptFraction(g);
        return kept;
    }

    /// <summary>Kept fractions of a set of (group, removed count) decisions.</summary>
    public static Func<int, double> Fractions(ChannelDependencyGraph graph, IReadOnlyDictionary<int, int> removed) =>
        g => removed.TryGetValue(g, out var k) ? (graph.Groups[g].Channels - k) / (double)graph.Groups[g].Channels : 1.0;
}
