using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Compression.Pruning.Sensitivity;
using Slim.Torch;
using Spectre.Console;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pruning;

public sealed class SensitivityTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "slim-sens-" + Guid.NewGuid().ToString("N"));

    public SensitivityTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Higher is better: 1 / (1 + mean squared distance to the unpruned net's output).</summary>
    private static Func<nn.Module, double> Metric(Tensor x, Tensor reference) => m =>
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var y = ((nn.Module<Tensor, Tensor>)m).call(x);
        return 1.0 / (1.0 + (y - reference).square().mean().item<double>());
    };

    private static readonly string[] Params = { "body.conv1.conv.weights", "body.conv2.conv.weights" };
    private static readonly double[] Ratios = { 0.25, 0.5, 0.75 };

    [Fact]
    public void MeasuresEachParameterAloneOnFreshCopies()
    {
        using var net = TestNets.Make(() => new ChainNet(), 5);
        using var scope = NewDisposeScope();
        var x = randn(new long[] { 2, 3, 8, 8 }, new Generator(1));
        var reference = net.call(x);
        var graph = ChannelDependencyGraph.Build(net, x);
        var path = Path.Combine(_dir, "sens.json");
        var result = SensitivityAnalysis.Run(net, () => new ChainNet(), graph, Metric(x, reference),
            new SensitivityOptions { Parameters = Params, Ratios = Ratios, ResultPath = path, Criterion = "l1_norm" });

        Assert.Equal(1.0, result.Baseline, 12);
        Assert.Equal(6, result.Points.Count);
        Assert.Equal(Params, result.Parameters);
        // Independent check of one point: prune a copy by hand and evaluate.
        using var copy = TestNets.Copy(() => new ChainNet(), net);
        Pruner.Apply(copy, new Pruner(graph, new L1NormImportance()).Plan(net, new[] { new PruneTarget(Params[1], 0.5) }));
        double m = Metric(x, reference)(copy);
        var pt = result.Points.Single(p => p.Parameter == Params[1] && p.Ratio == 0.5);
        Assert.Equal(m, pt.Metric, 12);
        Assert.Equal(1 - m, pt.Loss, 12);
        Assert.All(result.Points, p => Assert.True(p.Loss > 0));
        // The source model is untouched.
        Assert.Equal(8L, ((Slim.Torch.Modules.Conv2d)net.get_submodule("body.conv1.conv")).out_channels);
        Assert.Equal(6, SensitivityResult.Load(path).Points.Count);
    }

    [Fact]
    public void InterruptedRunResumesWhereItStopped()
    {
        using var net = TestNets.Make(() => new ChainNet(), 5);
        using var scope = NewDisposeScope();
        var x = randn(new long[] { 2, 3, 8, 8 }, new Generator(1));
        var reference = net.call(x);
        var graph = ChannelDependencyGraph.Build(net, x);
        var metric = Metric(x, reference);
        var options = new SensitivityOptions { Parameters = Params, Ratios = Ratios, ResultPath = Path.Combine(_dir, "resume.json") };

        int calls = 0;
        Assert.Throws<OperationCanceledException>(() => SensitivityAnalysis.Run(net, () => new ChainNet(), graph, m =>
        {
            // Baseline plus two points, then the run "dies" in the middle of the third.
            if (++calls == 4) throw new OperationCanceledException("interrupted");
            return metric(m);
        }, options));
        Assert.Equal(2, SensitivityResult.Load(options.ResultPath).Points.Count);

        int resumed = 0;
        var result = SensitivityAnalysis.Run(net, () => new ChainNet(), graph, m => { resumed++; return metric(m); }, options);
        Assert.Equal(4, resumed);  // no baseline, no repeated point
        Assert.Equal(6, result.Points.Count);

        var fresh = SensitivityAnalysis.Run(net, () => new ChainNet(), graph, metric,
            options with { ResultPath = Path.Combine(_dir, "fresh.json") });
        Assert.Equal(fresh.Points.Select(p => (p.Parameter, p.Ratio)), result.Points.Select(p => (p.Parameter, p.Ratio)));
        for (int i = 0; i < 6; i++) Assert.Equal(fresh.Points[i].Loss, result.Points[i].Loss, 12);
        Assert.Contains("criterion l1_norm, not bn_scale", Assert.Throws<PruningException>(() =>
            SensitivityAnalysis.Run(net, () => new ChainNet(), graph, metric, options with { Criterion = "bn_scale" })).Message);
    }

    private static SensitivityResult Fake() => new("l1_norm", 0.8, new List<SensitivityPoint>
    {
        new("body.conv1.conv.weights", 0.1, 0, 0.01), new("body.conv1.conv.weights", 0.2, 0, 0.03),
        new("body.conv1.conv.weights", 0.3, 0, 0.08), new("body.conv1.conv.weights", 0.5, 0, 0.2),
        new("body.conv2.conv.weights", 0.1, 0, 0.05), new("body.conv2.conv.weights", 0.3, 0, 0.3),
        new("body.conv2.conv.weights", 0.5, 0, 0.4),
    });

    [Fact]
    public void MaxLossPicksInterpolatedCrossings()
    {
        var chosen = RatioSelection.ByMaxLoss(Fake(), 0.05);
        // conv1: between 0.2 (3%) and 0.3 (8%): 0.2 + 0.1 * 2/5 = 0.24. conv2: reaches 5% exactly at 0.1.
        Assert.Equal("0.24,0.1", PruningRatios.Format(chosen.Select(t => t.Ratio)));
        Assert.Equal("0.5,0.5", PruningRatios.Format(RatioSelection.ByMaxLoss(Fake(), 0.5).Select(t => t.Ratio)));
        Assert.Equal(0.055, Fake().InterpolatedLoss("body.conv1.conv.weights", 0.25), 12);
    }

    [Fact]
    public void FlopsTargetPrefersTheCheapLayer()
    {
        using var net = TestNets.Make(() => new ChainNet(), 5);
        using var scope = NewDisposeScope();
        var graph = ChannelDependencyGraph.Build(net, randn(1, 3, 8, 8));
        var result = new SensitivityResult("l1_norm", 1, new List<SensitivityPoint>
        {
            new("body.conv1.conv.weights", 0.25, 0, 0.01), new("body.conv1.conv.weights", 0.5, 0, 0.02),
            new("body.conv1.conv.weights", 0.75, 0, 0.04),
            new("body.conv2.conv.weights", 0.25, 0, 0.3), new("body.conv2.conv.weights", 0.5, 0, 0.6),
            new("body.conv2.conv.weights", 0.75, 0, 0.9),
        });
        var targets = RatioSelection.ForFlopsReduction(result, graph, 0.3);
        Assert.True(targets[0].Ratio > 0 && targets[1].Ratio == 0, PruningRatios.Format(targets.Select(t => t.Ratio)));
        var plan = new Pruner(graph, new L1NormImportance()).Plan(net, targets.Where(t => t.Ratio > 0).ToList());
        Assert.True(plan.MacsReduction >= 0.3, $"{plan.MacsReduction}");
        // conv1 alone saves at most 6/8 of conv1 and conv2's MACs (~71% of the total); 90% needs more than exists.
        Assert.Contains("cannot be reached", Assert.Throws<PruningException>(() => RatioSelection.ForFlopsReduction(result, graph, 0.9)).Message);
    }

    [Fact]
    public void LatencyTargetPrefersTheSlowLayerAndPredictsByMacs()
    {
        using var net = TestNets.Make(() => new ChainNet(), 5);
        using var scope = NewDisposeScope();
        var graph = ChannelDependencyGraph.Build(net, randn(1, 3, 8, 8));
        // The same curve for both: only the costs decide.
        var points = new List<SensitivityPoint>();
        foreach (var p in Params)
            points.AddRange(new SensitivityPoint[] { new(p, 0.25, 0, 0.01), new(p, 0.5, 0, 0.02), new(p, 0.75, 0, 0.04) });
        var result = new SensitivityResult("l1_norm", 1, points);
        // By FLOPs conv1 saves more (pruning it also thins conv2's input): it goes first.
        var byFlops = RatioSelection.ForFlopsReduction(result, graph, 0.1);
        Assert.True(byFlops[0].Ratio > 0 && byFlops[1].Ratio == 0, PruningRatios.Format(byFlops.Select(t => t.Ratio)));
        // A table where conv2 takes 9 ms and conv1 1 ms (plus 2 ms elsewhere): conv2 goes first.
        var latency = new PruningLatency(graph, new Dictionary<string, double> { ["body.conv1.conv"] = 1, ["body.conv2.conv"] = 9, ["head"] = 0.5 }, 12);
        Assert.Equal(2, latency.MatchedLayers);
        Assert.Equal(10, latency.ScaledMs, 12);
        var byLatency = RatioSelection.ForLatencyReduction(result, graph, latency, 0.1);
        Assert.True(byLatency[1].Ratio > 0 && byLatency[0].Ratio == 0, PruningRatios.Format(byLatency.Select(t => t.Ratio)));
        Assert.True(latency.Predict(byLatency) <= 12 * 0.9 + 1e-9);
        // Hand count: conv1 (3→8), conv2 (8→6), out (6→4, not in the table: fixed with "head" and the rest, 2 ms).
        // conv1 at 0.5 keeps 4 of 8 outputs: conv1 at half its MACs, conv2 at half its inputs: 2 + 0.5 + 4.5 ms.
        // conv2 at 0.5 keeps 3 of 6 outputs (conv1 unchanged): 2 + 1 + 4.5; both: 2 + 0.5 + 9 / 4.
        Assert.Equal(7.0, latency.Predict(new[] { new PruneTarget(Params[0], 0.5) }), 9);
        Assert.Equal(7.5, latency.Predict(new[] { new PruneTarget(Params[1], 0.5) }), 9);
        Assert.Equal(4.75, latency.Predict(new[] { new PruneTarget(Params[0], 0.5), new PruneTarget(Params[1], 0.5) }), 9);
        Assert.Equal(12.0, latency.Predict(Array.Empty<PruneTarget>()), 12);
        Assert.Throws<PruningException>(() => new PruningLatency(graph, new Dictionary<string, double> { ["body.conv1.conv"] = 5 }, 4));
    }

    [Fact]
    public void MacsMatchHandCount()
    {
        using var net = TestNets.Make(() => new ChainNet(), 5);
        using var scope = NewDisposeScope();
        var graph = ChannelDependencyGraph.Build(net, randn(1, 3, 8, 8));
        // conv1 3→8 3x3, conv2 8→6 3x3, out 6→4 1x1, all on 8x8.
        Assert.Equal((double)(8 * 3 * 9 * 64 + 6 * 8 * 9 * 64 + 4 * 6 * 64), PruningFlops.Macs(graph));
        var plan = new Pruner(graph, new L1NormImportance()).Plan(net, new[] { new PruneTarget("body.conv1.conv.weights", 0.5) });
        Assert.Equal((double)(4 * 3 * 9 * 64 + 6 * 4 * 9 * 64 + 4 * 6 * 64), plan.MacsAfter);
        var report = Pruner.Apply(net, plan);
        Assert.Equal(4L, report.OutChannels.OutChannels["body.conv1.conv"]);
        Assert.Equal(6L, report.OutChannels.OutChannels["body.conv2.conv"]);
        var round = ChannelCounts.Parse(report.OutChannels.ToMetadata());
        Assert.Equal(report.OutChannels.OutChannels, round.OutChannels);
        Assert.Contains("body.conv1.conv", plan.ToString());
    }

    [Fact]
    public void UniformSearchHitsFlopsTargets()
    {
        using var net = TestNets.Make(() => new ResidualNet(), 5);
        using var scope = NewDisposeScope();
        var graph = ChannelDependencyGraph.Build(net, randn(1, 3, 16, 16));
        foreach (var target in new[] { 0.3, 0.5 })
        {
            var u = UniformPruning.Search(graph, target);
            Assert.True(u.MacsReduction >= target, $"{u.MacsReduction} < {target}");
            Assert.True(UniformPruning.Search(graph, target).Ratio == u.Ratio);
            // A visibly smaller ratio misses the target (the search found the smallest step).
            var smaller = new Pruner(graph, new L1NormImportance()).Plan(net,
                u.Targets.Select(t => t with { Ratio = Math.Max(0, u.Ratio - 0.01) }).ToList());
            Assert.True(smaller.MacsReduction < target);
            var plan = new Pruner(graph, new L1NormImportance()).Plan(net, u.Targets);
            Assert.Equal(u.MacsReduction, plan.MacsReduction, 9);
            // Every prunable group is included once (the output conv's group is not prunable).
            Assert.Equal(graph.PrunableGroups.Count(), u.Targets.Count);
            Assert.DoesNotContain(u.Targets, t => t.Parameter == "out.weights");
        }
        Assert.Contains("cannot remove", Assert.Throws<PruningException>(() => UniformPruning.Search(graph, 0.999)).Message);
    }

    [Fact]
    public void TableListsLossesPerRatio()
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer), ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 200;
        console.Write(Slim.Pipeline.ScoreTableRendering.ToSpectre(SensitivityTable.Build(Fake())));
        var text = writer.ToString();
        Assert.Contains("body.conv1.conv.weights", text);
        // Fake(): conv1 loses 1, 3, 8, 20 % at 0.1, 0.2, 0.3, 0.5; conv2 5, -, 30, 40 (no point at 0.2).
        Assert.Matches(@"│ body\.conv1\.conv\.weights\s*│\s*1\.00 │\s*3\.00 │\s*8\.00 │\s*20\.00 │", text);
        Assert.Matches(@"│ body\.conv2\.conv\.weights\s*│\s*5\.00 │\s*│\s*30\.00 │\s*40\.00 │", text);
        Assert.Contains("loss in % of the unpruned 80.00 % (l1_norm)", text);
    }
}
