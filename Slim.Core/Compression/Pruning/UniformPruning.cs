namespace Slim.Compression.Pruning;

/// <summary>The uniform ratio found for a FLOPs target, and the targets that apply it.</summary>
public sealed record UniformPruningResult(double Ratio, double MacsReduction, IReadOnlyList<PruneTarget> Targets);

/// <summary>
/// One ratio for every prunable convolution group, found by bisection so that the MACs drop by a
/// target fraction (-30%, -50%), as the classification model zoo prunes its classifiers.
/// </summary>
public static class UniformPruning
{
    /// <summary>
    /// The smallest ratio (to within <paramref name="tolerance"/>) whose MACs reduction reaches
    /// <paramref name="targetReduction"/>. Each group is named by its first producing conv weight.
    /// With <paramref name="parameters"/>, only the groups of those conv weights are pruned.
    /// </summary>
    public static UniformPruningResult Search(ChannelDependencyGraph graph, double targetReduction, double tolerance = 1e-3,
        IReadOnlyCollection<string>? parameters = null)
    {
        if (!(targetReduction > 0 && targetReduction < 1)) throw new PruningException($"target FLOPs reduction {targetReduction} is outside (0, 1)");
        var ids = parameters?.Select(p => graph.GroupOf(p).Id).ToHashSet();
        var groups = graph.PrunableGroups.Where(g => g.SourceParameters.Any() && (ids is null || ids.Contains(g.Id))).ToList();
        if (groups.Count == 0) throw new PruningException("the model has no prunable convolution");
        double full = PruningFlops.Macs(graph);
        double Reduction(double r) => 1 - PruningFlops.Macs(graph, PruningFlops.Fractions(graph,
            groups.ToDictionary(g => g.Id, g => PruningRatios.ChannelsToRemove(g.Channels, r)))) / full;

        double hi = 1 - 1e-9;
        double most = Reduction(hi);
        if (most < targetReduction)
            throw new PruningException($"uniform pruning cannot remove {targetReduction:P1} of the FLOPs: at most {most:P1} " +
                "(unprunable layers and the one channel each group keeps set the limit)");
        double lo = 0;
        // Reduction(r) is a non-decreasing step function of r, so bisection keeps Reduction(hi) >= target.
        while (hi - lo > tolerance)
        {
            double mid = (lo + hi) / 2;
            if (Reduction(mid) >= targetReduction) hi = mid;
            else lo = mid;
        }
        double ratio = Math.Ceiling(hi / tolerance) * tolerance;
        if (ratio >= 1 || Reduction(ratio) < targetReduction) ratio = hi;
        var targets = groups.Select(g => new PruneTarget(g.SourceParameters.First(), ratio)).ToList();
        return new UniformPruningResult(ratio, Reduction(ratio), targets);
    }
}
