namespace Slim.Compression.Pruning;

/// <summary>One try of the pruning fallback: the ratios, the fine-tuned model's metric, and whether it passed.</summary>
public sealed record PruneTry(IReadOnlyList<PruneTarget> Targets, double Metric, bool Passed);

/// <summary>Every try in order (the first is the asked ratios) and the index of the one kept: the first that passed, else the best.</summary>
public sealed record PruneFallbackResult(IReadOnlyList<PruneTry> Tries, int KeptTry)
{
    public PruneTry Kept => Tries[KeptTry];
    public bool Passed => Kept.Passed;
}

/// <summary>
/// The self-repairing accuracy gate of pruning: when the fine-tuned model of the asked ratios drops too much, the
/// ratios of the most sensitive pruned groups are halved and the model pruned and fine-tuned again, until one passes
/// (or the tries run out, keeping the best). Each try lowers the <c>perTry</c> groups whose loss at their current
/// ratio is largest (from the sensitivity curves, else the largest ratio); a ratio that falls below
/// <see cref="Smallest"/> becomes 0 (the group is left whole). Coupled parameters (one group) move together.
/// Pruning and fine-tuning are the caller's (<c>evaluate</c>).
/// </summary>
public static class PruneFallback
{
    /// <summary>Ratios below this after halving are dropped to 0.</summary>
    public const double Smallest = 0.05;

    /// <param name="initial">The asked targets (tried first).</param>
    /// <param name="groupOf">The channel group of a parameter (coupled parameters share one).</param>
    /// <param name="sensitivity">How much a parameter's group loses at a ratio (larger: more sensitive); null ranks by ratio.</param>
    /// <param name="evaluate">Prunes the input model with these targets, fine-tunes it and returns its metric; gets the try's index (0: the asked ratios).</param>
    /// <param name="passes">Whether a metric is good enough.</param>
    /// <param name="maxTries">Tries after the first.</param>
    /// <param name="perTry">Groups lowered per try.</param>
    /// <param name="progress">Called after each try.</param>
    /// <param name="cancel">Stops between tries.</param>
    public static PruneFallbackResult Run(IReadOnlyList<PruneTarget> initial, Func<string, int> groupOf, Func<string, double, double>? sensitivity,
        Func<int, IReadOnlyList<PruneTarget>, double> evaluate, Func<double, bool> passes, int maxTries, int perTry,
        Action<PruneTry>? progress = null, CancellationToken cancel = default)
    {
        if (maxTries < 0) throw new PruningException($"pruning fallback: {maxTries} tries: expected 0 or more");
        if (perTry < 1) throw new PruningException($"pruning fallback: {perTry} groups per try: expected 1 or more");
        var tries = new List<PruneTry>();
        var targets = initial;
        for (int k = 0; ; k++)
        {
            cancel.ThrowIfCancellationRequested();
            double m = evaluate(k, targets);
            var done = new PruneTry(targets, m, passes(m));
            tries.Add(done);
            progress?.Invoke(done);
            if (done.Passed) return new PruneFallbackResult(tries, k);
            if (k == maxTries) break;
            var lowered = Lower(targets, groupOf, sensitivity, perTry);
            if (lowered.Select(t => t.Ratio).SequenceEqual(targets.Select(t => t.Ratio))) break; // nothing left to lower
            targets = lowered;
        }
        int best = Enumerable.Range(0, tries.Count).OrderByDescending(i => tries[i].Metric).ThenBy(i => i).First();
        return new PruneFallbackResult(tries, best);
    }

    /// <summary>The targets with the ratios of the <paramref name="count"/> most sensitive pruned groups halved.</summary>
    public static IReadOnlyList<PruneTarget> Lower(IReadOnlyList<PruneTarget> targets, Func<string, int> groupOf,
        Func<string, double, double>? sensitivity, int count)
    {
        // One score per group: its first parameter's at the group's ratio.
        var groups = targets.Where(t => t.Ratio > 0).GroupBy(t => groupOf(t.Parameter))
            .Select(g => (Group: g.Key, Ratio: g.Max(t => t.Ratio), Score: sensitivity?.Invoke(g.First().Parameter, g.Max(t => t.Ratio)) ?? g.Max(t => t.Ratio)))
            .OrderByDescending(g => g.Score).ThenByDescending(g => g.Ratio).ThenBy(g => g.Group)
            .Take(count).Select(g => g.Group).ToHashSet();
        return targets.Select(t =>
        {
            if (!groups.Contains(groupOf(t.Parameter))) return t;
            double half = Math.Floor(t.Ratio / 2 * 100 + 1e-9) / 100;
            return t with { Ratio = half < Smallest ? 0 : half };
        }).ToList();
    }
}
