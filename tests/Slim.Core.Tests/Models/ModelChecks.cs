using System.Diagnostics;
using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Core.Tests.Pruning;
using Slim.Import;
using Slim.Models;
using Slim.Pipeline;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Models;

/// <summary>The checks every architecture gets: against a PyTorch translation of its reference code, and pruned = masked.</summary>
internal static class ModelChecks
{
    /// <summary>Runs a python3-torch script in <paramref name="dir"/>; skips the test when python3 or torch is missing (exit code 3).</summary>
    public static void RunTorchScript(string dir, string script)
    {
        const string python = "/usr/bin/python3";
        Skip.IfNot(File.Exists(python), $"{python} is not installed (Debian package python3)");
        File.WriteAllText(Path.Combine(dir, "ref.py"), script);
        using var p = Process.Start(new ProcessStartInfo(python, "ref.py") { WorkingDirectory = dir, RedirectStandardError = true })!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Skip.If(p.ExitCode == 3, "python3 lacks torch (Debian package python3-torch)");
        Assert.True(p.ExitCode == 0, err);
    }

    /// <summary>Loads a PyTorch state dict written with Slim's module names (conv/bn children) into <paramref name="net"/>; every tensor must land.</summary>
    public static void LoadTorchState(nn.Module net, string dir, string file, string biasedConv)
    {
        var map = Path.Combine(dir, "map.yml");
        File.WriteAllText(map, $$"""
            rules:
              - {from: '^(.*)\.conv\.weight$', to: '$1.conv.weights'}
              - {from: '^(.*)\.bn\.weight$', to: '$1.bn.scale'}
              - {from: '^(.*)\.bn\.bias$', to: '$1.bn.offset'}
              - {from: '^(.*)\.bn\.running_mean$', to: '$1.bn.mean'}
              - {from: '^(.*)\.bn\.running_var$', to: '$1.bn.var'}
              - {from: 'num_batches_tracked$', to: null, why: step counter}
              - {from: '^{{biasedConv.Replace(".", "\\.")}}\.bias$', to: '{{biasedConv}}.bias'}
            """);
        var report = WeightImporter.Import(net, PickledWeights.Read(Path.Combine(dir, file)), WeightMap.FromFile(map));
        Assert.Empty(report.LeftAtInit);
    }

    /// <summary>Asserts <paramref name="got"/> equals the reference output to 1e-4 of its largest magnitude.</summary>
    public static void AssertClose(SourceTensor want, Tensor got, string what)
    {
        Assert.Equal(want.Shape, got.shape);
        var values = got.data<float>().ToArray();
        double scale = want.Values.Max(v => Math.Abs(v));
        double worst = values.Zip(want.Values).Max(p => Math.Abs(p.First - p.Second)) / scale;
        Assert.True(worst < 1e-4, $"{what}: largest difference {worst:E2} of the largest output {scale:F3}");
    }

    /// <summary>
    /// Prunes <paramref name="targets"/> (every prunable group at 0.3 when null) of a seeded model built by
    /// <paramref name="build"/> and checks that the pruned network computes what the original computes with those
    /// channels zeroed, and that its channel overrides alone rebuild it. <paramref name="forward"/> gives the model's
    /// outputs as one flat tensor; <paramref name="traced"/> the outputs the pruning graph follows (the model's call by default).
    /// </summary>
    public static PruneResult AssertPrunedEqualsMasked(Func<ModelOptions, nn.Module> build, ModelOptions options, Func<nn.Module, Tensor, Tensor> forward,
        int size, Func<ChannelDependencyGraph, IReadOnlyList<PruneTarget>>? targets = null, Func<nn.Module, Tensor, IEnumerable<Tensor>>? traced = null)
    {
        Func<nn.Module> ctor = () => build(options);
        using var net = TestNets.Make(ctor, 17);
        var graph = traced is null ? PruneModel.Graph(net, options) : PruneModel.Graph(net, options, x => traced(net, x));
        var chosen = targets?.Invoke(graph)
            ?? graph.PrunableGroups.Where(g => g.SourceParameters.Any()).Select(g => new PruneTarget(g.SourceParameters.First(), 0.3)).ToList();
        Assert.True(chosen.Count > 10, $"only {chosen.Count} prunable groups");
        var plan = new Pruner(graph, ChannelImportanceRegistry.Get("l1_norm")).Plan(net, chosen);
        using var masked = TestNets.Copy(ctor, net);
        TestNets.ZeroPlannedChannels(masked, plan);
        using var pruned = TestNets.Copy(ctor, net);
        var result = PruneModel.Apply(pruned, options, graph, chosen, "l1_norm");
        pruned.eval();
        var x = randn(new long[] { 2, options.InChannels, size, size }, new Generator(5));
        using var _ = no_grad();
        var orig = forward(net, x);
        var want = forward(masked, x);
        var got = forward(pruned, x);
        Assert.True(TestNets.MaxAbsDiff(want, got) < 1e-4, $"pruned and masked differ by {TestNets.MaxAbsDiff(want, got)}");
        Assert.True(TestNets.MaxAbsDiff(orig, want) > 1e-3, "masking changed nothing");
        using var rebuilt = build(result.Options);
        rebuilt.load_state_dict(pruned.state_dict());
        rebuilt.eval();
        Assert.Equal(0.0, TestNets.MaxAbsDiff(got, forward(rebuilt, x)));
        return result;
    }
}
