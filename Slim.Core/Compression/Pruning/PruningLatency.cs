namespace Slim.Compression.Pruning;

/// <summary>
/// A latency model of one network on one machine, for latency-aware pruning: the measured time of each conv and
/// linear layer and the time of everything else. A pruned layer is predicted to take its measured time scaled by
/// the MACs it keeps (its input and output channels both count, so pruning a conv also speeds up the one it
/// feeds); every other cost (other operators, the runtime's own work) stays as measured. Layers are named by
/// module path, as <c>slim latency-table</c> names them.
/// </summary>
public sealed class PruningLatency
{
    private readonly ChannelDependencyGraph _graph;
    private readonly double[] _nodeMs;      // per compute node, its measured time (0 when the table has none)
    private readonly double[] _nodeMacs;    // per compute node, its unpruned MACs

    /// <param name="graph">The channel graph of the unpruned model the times were measured on.</param>
    /// <param name="layerMs">Measured time per layer (module path), in milliseconds; layers that are no conv or linear of the graph count as fixed.</param>
    /// <param name="totalMs">The measured time of one whole run, in milliseconds (at least the sum of the layers).</param>
    public PruningLatency(ChannelDependencyGraph graph, IReadOnlyDictionary<string, double> layerMs, double totalMs)
    {
        _graph = graph;
        var nodes = graph.ComputeNodes;
        // A module called more than once (shared weights) shares its time out by MACs.
        var macsOfPath = nodes.GroupBy(n => n.ModulePath, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(n => PruningFlops.NodeMacs(n, null)), StringComparer.Ordinal);
        _nodeMacs = nodes.Select(n => PruningFlops.NodeMacs(n, null)).ToArray();
        _nodeMs = new double[nodes.Count];
        for (int i = 0; i < nodes.Count; i++)
            if (layerMs.TryGetValue(nodes[i].ModulePath, out var ms) && macsOfPath[nodes[i].ModulePath] > 0)
                _nodeMs[i] = ms * _nodeMacs[i] / macsOfPath[nodes[i].ModulePath];
        MatchedLayers = nodes.Select(n => n.ModulePath).Distinct(StringComparer.Ordinal).Count(layerMs.ContainsKey);
        ScaledMs = _nodeMs.Sum();
        if (!(totalMs >= ScaledMs)) throw new PruningException($"latency model: the whole run ({totalMs:F3} ms) is shorter than its conv layers ({ScaledMs:F3} ms)");
        TotalMs = totalMs;
    }

    /// <summary>Conv and linear layers of the graph that the table has a time for.</summary>
    public int MatchedLayers { get; }

    /// <summary>The measured time of a whole run, in milliseconds.</summary>
    public double TotalMs { get; }

    /// <summary>The part of it that pruning scales (the graph's conv and linear layers), in milliseconds.</summary>
    public double ScaledMs { get; }

    /// <summary>Predicted time of a run with the given groups' removed channel counts, in milliseconds.</summary>
    public double Predict(IReadOnlyDictionary<int, int> removedPerGroup) => Predict(PruningFlops.Fractions(_graph, removedPerGroup));

    internal double Predict(Func<int, double> keptFraction)
    {
        double ms = TotalMs - ScaledMs;
        var nodes = _graph.ComputeNodes;
        for (int i = 0; i < nodes.Count; i++)
            if (_nodeMs[i] > 0) ms += _nodeMs[i] * PruningFlops.NodeMacs(nodes[i], keptFraction) / _nodeMacs[i];
        return ms;
    }

    /// <summary>Predicted time with the targets' ratios (each group's removed channels as the pruner counts them), in milliseconds.</summary>
    public double Predict(IEnumerable<PruneTarget> targets)
    {
        var removed = new Dictionary<int, int>();
        foreach (var t in targets)
        {
            var g = _graph.GroupOf(t.Parameter);
            removed[g.Id] = Math.Max(removed.GetValueOrDefault(g.Id), PruningRatios.ChannelsToRemove(g.Channels, t.Ratio));
        }
        return Predict(removed);
    }
}
