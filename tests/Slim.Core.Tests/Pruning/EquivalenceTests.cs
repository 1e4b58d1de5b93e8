using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pruning;

/// <summary>
/// The physically pruned model must compute what the original computes with the pruned channels
/// forced to zero (conv rows, biases, BN scale and offset zeroed by hand here): that proves the
/// graph found every member of each group and cut every consumer at the right offsets.
/// </summary>
public class EquivalenceTests
{
    private const double Tolerance = 1e-5;

    /// <summary>Hand list of what to zero per pruned parameter: producer convs and BNs of its group.</summary>
    private sealed record Mask(string Parameter, double Ratio, string[] Convs, string[] Bns);

    private static void Check<T>(Func<T> ctor, Func<T, Tensor, Tensor[]> run, long[] inputShape, string criterion,
        Mask[] masks, Action<ChannelDependencyGraph, PruningPlan>? inspect = null) where T : nn.Module
    {
        long live = Tensor.LiveCount;
        using (var scope = NewDisposeScope())
        {
            using var net = TestNets.Make(ctor, 7);
            var x = randn(new[] { 2L }.Concat(inputShape.Skip(1)).ToArray(), new Generator(3));
            var graph = ChannelDependencyGraph.Build(net, new[] { x }, xs => run(net, xs[0]));
            var pruner = new Pruner(graph, ChannelImportanceRegistry.Get(criterion));
            var plan = pruner.Plan(net, masks.Select(m => new PruneTarget(m.Parameter, m.Ratio)).ToList());
            inspect?.Invoke(graph, plan);

            using var pruned = TestNets.Copy(ctor, net);
            var report = Pruner.Apply(pruned, plan);
            using var masked = TestNets.Copy(ctor, net);
            foreach (var m in masks)
            {
                var gp = plan.Groups.Single(g => g.Parameters.Contains(m.Parameter));
                Assert.Equal(PruningRatios.ChannelsToRemove(gp.ChannelsBefore, m.Ratio), gp.RemovedChannels.Length);
                Assert.NotEmpty(gp.RemovedChannels);
                foreach (var c in m.Convs) TestNets.ZeroConvOut(masked, c, gp.RemovedChannels);
                foreach (var b in m.Bns) TestNets.ZeroBn(masked, b, gp.RemovedChannels);
            }
            using var _ = no_grad();
            var want = run(masked, x);
            var got = run(pruned, x);
            var orig = run(net, x);
            Assert.Equal(want.Length, got.Length);
            for (int i = 0; i < want.Length; i++)
            {
                Assert.True(TestNets.MaxAbsDiff(want[i], got[i]) < Tolerance, $"output {i} differs by {TestNets.MaxAbsDiff(want[i], got[i])}");
                // The masking must matter, or the comparison proves nothing.
                Assert.True(TestNets.MaxAbsDiff(orig[i], want[i]) > 1e-3, $"output {i}: masking changed nothing");
            }
            Assert.True(plan.MacsAfter < plan.MacsBefore);
            Assert.Equal(plan.MacsAfter, MacsOf(pruned, run, x), 6);
            Assert.All(report.Layers, l => Assert.True(l.After < l.Before));
        }
        Assert.Equal(live, Tensor.LiveCount);
    }

    /// <summary>MACs of the pruned model counted afresh from its own trace.</summary>
    private static double MacsOf<T>(T net, Func<T, Tensor, Tensor[]> run, Tensor x) where T : nn.Module =>
        PruningFlops.Macs(ChannelDependencyGraph.Build(net, new[] { x.narrow(0, 0, 1) }, xs => run(net, xs[0])));

    private static HashSet<string> Members(ChannelDependencyGraph graph, string parameter) =>
        graph.GroupOf(parameter).Members.Select(m => $"{m.ModulePath}:{m.Role}").ToHashSet();

    [Fact]
    public void ChainPrunedEqualsMasked()
    {
        Check(() => new ChainNet(), (n, x) => new[] { n.call(x) }, new long[] { 1, 3, 8, 8 }, "l1_norm", new[]
        {
            new Mask("body.conv1.conv.weights", 0.5, new[] { "body.conv1.conv" }, new[] { "body.conv1.bn" }),
            new Mask("body.conv2.conv.weights", 0.34, new[] { "body.conv2.conv" }, new[] { "body.conv2.bn" }),
        }, (g, _) =>
        {
            Assert.Equal(new HashSet<string> { "body.conv1.conv:ConvOutput", "body.conv1.bn:BatchNorm", "body.conv2.conv:ConvInput" },
                Members(g, "body.conv1.conv.weights"));
            Assert.Equal(new HashSet<string> { "body.conv2.conv:ConvOutput", "body.conv2.bn:BatchNorm", "body.out:ConvInput" },
                Members(g, "body.conv2.conv.weights"));
        });
    }

    [Fact]
    public void DepthwisePrunedEqualsMasked()
    {
        Check(() => new DepthwiseNet(), (n, x) => new[] { n.call(x) }, new long[] { 1, 3, 8, 8 }, "geometry_median", new[]
        {
            new Mask("body.conv1.conv.weights", 0.5, new[] { "body.conv1.conv", "body.dw.conv" }, new[] { "body.conv1.bn", "body.dw.bn" }),
        }, (g, _) =>
        {
            Assert.Equal(new HashSet<string>
            {
                "body.conv1.conv:ConvOutput", "body.conv1.bn:BatchNorm", "body.dw.conv:DepthwiseConv", "body.dw.bn:BatchNorm",
                "body.pw.conv:ConvInput",
            }, Members(g, "body.conv1.conv.weights"));
        });
    }

    [Fact]
    public void ConcatAfterUpsamplePrunedEqualsMasked()
    {
        // The transition path sits first in the concat, the backbone feature after it at offset 3.
        Check(() => new TinyYolo(), (n, x) => n.call(x), new long[] { 1, 3, 16, 16 }, "l1_norm", new[]
        {
            new Mask("yolo_transition.0.conv.weights", 0.34, new[] { "yolo_transition.0.conv" }, new[] { "yolo_transition.0.bn" }),
            new Mask("backbone.c1.conv.weights", 0.5, new[] { "backbone.c1.conv" }, new[] { "backbone.c1.bn" }),
            new Mask("yolo_block.0.2.conv.weights", 0.5, new[] { "yolo_block.0.2.conv" }, new[] { "yolo_block.0.2.bn" }),
            new Mask("yolo_block.1.tip.conv.weights", 0.5, new[] { "yolo_block.1.tip.conv" }, new[] { "yolo_block.1.tip.bn" }),
        }, (g, plan) =>
        {
            Assert.Equal(new HashSet<string>
            {
                "backbone.c1.conv:ConvOutput", "backbone.c1.bn:BatchNorm", "backbone.c2.conv:ConvInput", "yolo_block.1.0.0.conv:ConvInput",
            }, Members(g, "backbone.c1.conv.weights"));
            var consumer = g.GroupOf("backbone.c1.conv.weights").Members.Single(m => m.ModulePath == "yolo_block.1.0.0.conv");
            Assert.Equal(new[] { -1, -1, -1, 0, 1, 2, 3, 4, 5 }, consumer.ChannelOfPosition);
            var route = Members(g, "yolo_block.0.2.conv.weights");
            Assert.Contains("yolo_block.0.tip.conv:ConvInput", route);
            Assert.Contains("yolo_transition.0.conv:ConvInput", route);
            var layer = plan.Layers.Single(l => l.ModulePath == "yolo_block.1.0.0.conv" && l.Role == MemberRole.ConvInput);
            Assert.Equal((9L, 5L), (layer.Before, layer.After));
        });
    }

    [Fact]
    public void ResidualAddPrunedEqualsMasked()
    {
        Check(() => new ResidualNet(), (n, x) => new[] { n.call(x) }, new long[] { 1, 3, 8, 8 }, "bn_scale", new[]
        {
            new Mask("stem.conv.weights", 0.5, new[] { "stem.conv", "res2a_branch2b.conv" }, new[] { "stem.bn", "res2a_branch2b.bn" }),
            new Mask("res3a_branch1.conv.weights", 0.3, new[] { "res3a_branch1.conv", "res3a_branch2b.conv" },
                new[] { "res3a_branch1.bn", "res3a_branch2b.bn" }),
            new Mask("res2a_branch2a.conv.weights", 0.4, new[] { "res2a_branch2a.conv" }, new[] { "res2a_branch2a.bn" }),
        }, (g, _) =>
        {
            var group = g.GroupOf("stem.conv.weights");
            Assert.Same(group, g.GroupOf("res2a_branch2b.conv.weights"));
            Assert.Equal(new[] { "stem.conv.weights", "res2a_branch2b.conv.weights" }, group.SourceParameters.ToArray());
            Assert.Equal(new HashSet<string>
            {
                "stem.conv:ConvOutput", "stem.bn:BatchNorm", "res2a_branch2b.conv:ConvOutput", "res2a_branch2b.bn:BatchNorm",
                "res2a_branch2a.conv:ConvInput", "res3a_branch2a.conv:ConvInput", "res3a_branch1.conv:ConvInput",
            }, Members(g, "stem.conv.weights"));
        });
    }

    [Fact]
    public void SeBlockPrunedEqualsMasked()
    {
        Check(() => new SeNet(), (n, x) => new[] { n.call(x) }, new long[] { 1, 3, 8, 8 }, "l1_norm", new[]
        {
            // Expanded channels: the depthwise conv follows them and the SE gate is coupled to them.
            new Mask("block.expand_conv.conv.weights", 0.5, new[] { "block.expand_conv.conv", "block.bottleneck_conv.conv", "block.se_block.conv2" },
                new[] { "block.expand_conv.bn", "block.bottleneck_conv.bn" }),
            new Mask("block.se_block.conv1.weights", 0.5, new[] { "block.se_block.conv1" }, Array.Empty<string>()),
            new Mask("conv1.conv.weights", 0.34, new[] { "conv1.conv", "block.linear_conv.conv" }, new[] { "conv1.bn", "block.linear_conv.bn" }),
        }, (g, _) =>
        {
            Assert.Equal(new HashSet<string>
            {
                "block.expand_conv.conv:ConvOutput", "block.expand_conv.bn:BatchNorm", "block.bottleneck_conv.conv:DepthwiseConv",
                "block.bottleneck_conv.bn:BatchNorm", "block.se_block.conv1:ConvInput", "block.se_block.conv2:ConvOutput",
                "block.linear_conv.conv:ConvInput",
            }, Members(g, "block.expand_conv.conv.weights"));
            Assert.Same(g.GroupOf("block.expand_conv.conv.weights"), g.GroupOf("block.se_block.conv2.weights"));
        });
    }

    [Fact]
    public void FlattenLinearPrunedEqualsMasked()
    {
        Check(() => new FlattenNet(), (n, x) => new[] { n.call(x) }, new long[] { 1, 3, 8, 8 }, "l1_norm", new[]
        {
            new Mask("conv1.conv.weights", 0.25, new[] { "conv1.conv" }, new[] { "conv1.bn" }),
        }, (g, plan) =>
        {
            var fc = plan.Layers.Single(l => l.ModulePath == "fc");
            Assert.Equal((128L, 96L), (fc.Before, fc.After));
        });
    }
}
