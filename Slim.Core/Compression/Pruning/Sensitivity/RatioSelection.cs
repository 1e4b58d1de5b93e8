namespace Slim.Compression.Pruning.Sensitivity;

/// <summary>Per-layer ratios chosen from sensitivity curves.</summary>
public static class RatioSelection
{
    /// <summary>
    /// For each parameter, the largest ratio whose interpolated loss stays within maxLoss: the
    /// first crossing of maxLoss along the curve, linearly interpolated between measured ratios
    /// (the last measured ratio when the curve never crosses), rounded down to 0.01.
    /// </summary>
    public static IReadOnlyList<PruneTarget> ByMaxLoss(SensitivityResult result, double maxLoss)
    {
        var targets = new List<PruneTarget>();
        foreach (var p in result.Parameters)
        {
            double r0 = 0, l0 = 0, chosen = double.NaN;
            foreach (var pt in result.Curve(p))
            {
                if (pt.Loss > maxLoss)
                {
                    chosen = l0 >= maxLoss ? r0 : r0 + (pt.Ratio - r0) * (maxLoss - l0) / (pt.Loss - l0);
                    break;
                }
                (r0, l0) = (pt.Ratio, pt.Loss);
            }
            if (double.IsNaN(chosen)) chosen = r0;
            targets.Add(new PruneTarget(p, Math.Floor(chosen * 100 + 1e-9) / 100));
        }
        return targets;
    }

    /// <summary>
    /// Ratios that remove at least <paramref name="targetReduction"/> of the MACs with the least
    /// loss: starting from nothing pruned, repeatedly raise the one parameter whose next step on a
    /// grid of <paramref name="step"/> costs the least interpolated loss per MAC saved, until the
    /// target is met. Each parameter stays within its measured ratios.
    /// </summary>
    public static IReadOnlyList<PruneTarget> ForFlopsReduction(SensitivityResult result, ChannelDependencyGraph graph,
        double targetReduction, double step = 0.05) =>
        ForReduction(result, graph, targetReduction, step, "FLOPs", removed => PruningFlops.Macs(graph, PruningFlops.Fractions(graph, removed)));

    /// <summary>
    /// Ratios that cut at least <paramref name="targetReduction"/> of the predicted latency with the least loss: the
    /// same greedy search as <see cref="ForFlopsReduction"/>, each step weighed by the milliseconds it saves in the
    /// latency model instead of the MACs, so a layer that is slow for its MACs is pruned before a fast one.
    /// </summary>
    public static IReadOnlyList<PruneTarget> ForLatencyReduction(SensitivityResult result, ChannelDependencyGraph graph,
        PruningLatency latency, double targetReduction, double step = 0.05) =>
        ForReduction(result, graph, targetReduction, step, "latency", latency.Predict);

    private static IReadOnlyList<PruneTarget> ForReduction(SensitivityResult result, ChannelDependencyGraph graph,
        double targetReduction, double step, string what, Func<IReadOnlyDictionary<int, int>, double> cost)
    {
        if (!(targetReduction > 0 && targetReduction < 1)) throw new PruningException($"target {what} reduction {targetReduction} is outside (0, 1)");
        var parameters = result.Parameters;
        var group = parameters.ToDictionary(p => p, p => graph.GroupOf(p));
        var maxRatio = parameters.ToDictionary(p => p, p => result.Curve(p)[^1].Ratio);
        var ratio = parameters.ToDictionary(p => p, _ => 0.0);
        double full = cost(new Dictionary<int, int>());

        double CostWith(Dictionary<string, double> r) =>
            cost(r.ToDictionary(kv => group[kv.Key].Id, kv => PruningRatios.ChannelsToRemove(group[kv.Key].Channels, kv.Value)));

        double current = full;
        while (1 - current / full < targetReduction)
        {
            (string p, double r, double cost, double perUnit)? best = null;
            foreach (var p in parameters)
            {
                // The next grid ratio that removes more channels (small layers skip several grid steps).
                for (double r = Math.Round(ratio[p] + step, 6); r <= maxRatio[p] + 1e-9; r = Math.Round(r + step, 6))
                {
                    var trial = new Dictionary<string, double>(ratio) { [p] = r };
                    double c = CostWith(trial);
                    if (c >= current) continue;
                    double perUnit = (result.InterpolatedLoss(p, Math.Min(r, maxRatio[p])) - result.InterpolatedLoss(p, ratio[p])) / (current - c);
                    if (best is null || perUnit < best.Value.perUnit) best = (p, r, c, perUnit);
                    break;
                }
            }
            if (best is null)
                throw new PruningException($"a {what} reduction of {targetReduction:P1} cannot be reached by the analysed parameters within " +
                    $"their measured ratios (at most {1 - current / full:P1})");
            ratio[best.Value.p] = best.Value.r;
            current = best.Value.cost;
        }
        return parameters.Select(p => new PruneTarget(p, Math.Round(ratio[p], 4))).ToList();
    }
}
