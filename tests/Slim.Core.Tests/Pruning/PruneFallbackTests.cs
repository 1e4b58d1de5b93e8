using Slim.Compression.Pruning;

namespace Slim.Core.Tests.Pruning;

public sealed class PruneFallbackTests
{
    // Four groups (a and a2 coupled), each losing its weight × ratio of the metric.
    private static readonly Dictionary<string, int> Group = new() { ["a"] = 0, ["a2"] = 0, ["b"] = 1, ["c"] = 2, ["d"] = 3 };
    private static readonly Dictionary<int, double> Weight = new() { [0] = 0.5, [1] = 0.1, [2] = 0.3, [3] = 0.05 };
    private static readonly PruneTarget[] Asked = { new("a", 0.6), new("a2", 0.6), new("b", 0.6), new("c", 0.4), new("d", 0) };

    private static double Metric(IReadOnlyList<PruneTarget> t) => 1 - t.GroupBy(x => Group[x.Parameter]).Sum(g => Weight[g.Key] * g.Max(x => x.Ratio));

    [Fact]
    public void HalvesTheMostSensitiveGroupsFirstUntilOnePasses()
    {
        var seen = new List<int>();
        // Sensitivity as the curves would give it: the loss at the ratio.
        var result = PruneFallback.Run(Asked, p => Group[p], (p, r) => Weight[Group[p]] * r, (k, t) => { seen.Add(k); return Metric(t); },
            m => m >= 0.7, maxTries: 5, perTry: 1);
        // Asked: 1 - 0.3 - 0.06 - 0.12 = 0.52. Try 1 halves a (loss 0.30, the largest): 0.67. Try 2: c (0.12) before a (0.15)? a at
        // 0.3 loses 0.15, c at 0.4 loses 0.12: a again, to 0.15: 0.745, passes.
        Assert.Equal(new[] { 0, 1, 2 }, seen);
        Assert.True(result.Passed);
        Assert.Equal(2, result.KeptTry);
        Assert.Equal(new[] { 0.52, 0.67, 0.745 }, result.Tries.Select(t => Math.Round(t.Metric, 6)));
        Assert.Equal("0.15,0.15,0.6,0.4,0", PruningRatios.Format(result.Kept.Targets.Select(t => t.Ratio)));
    }

    [Fact]
    public void WithoutCurvesTheLargestRatiosGoFirstAndTheBestIsKeptWhenNonePasses()
    {
        var lowered = PruneFallback.Lower(Asked, p => Group[p], null, 2);
        // Ratio ties (a and b at 0.6) go by group: both halved, c untouched.
        Assert.Equal("0.3,0.3,0.3,0.4,0", PruningRatios.Format(lowered.Select(t => t.Ratio)));
        var result = PruneFallback.Run(Asked, p => Group[p], null, (k, t) => Metric(t), m => m > 2, maxTries: 2, perTry: 4);
        Assert.False(result.Passed);
        Assert.Equal(3, result.Tries.Count);
        Assert.Equal(2, result.KeptTry); // the least pruned scores best here
        // Ratios below 0.05 after halving become 0, and a try that cannot lower anything ends the loop.
        Assert.Equal("0,0,0", PruningRatios.Format(PruneFallback.Lower(new PruneTarget[] { new("b", 0.08), new("c", 0.09), new("d", 0) }, p => Group[p], null, 3).Select(t => t.Ratio)));
        var stopped = PruneFallback.Run(new PruneTarget[] { new("b", 0.08) }, p => Group[p], null, (k, t) => Metric(t), m => false, maxTries: 5, perTry: 1);
        Assert.Equal(2, stopped.Tries.Count);
        Assert.Throws<PruningException>(() => PruneFallback.Run(Asked, p => Group[p], null, (k, t) => 0, m => false, maxTries: 1, perTry: 0));
    }
}
