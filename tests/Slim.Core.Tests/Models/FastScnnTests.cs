using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Core.Tests.Pruning;
using Slim.Models;
using Slim.Pipeline;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Models;

/// <summary>Fast-SCNN at full size (Cityscapes' 19 classes): shapes, and physical pruning through its two-branch fusion.</summary>
public class FastScnnTests
{
    [Fact]
    public void GivesLogitsAtTheInputSizeWithPaddleSegsNames()
    {
        using var scope = NewDisposeScope();
        using var net = new FastScnn(new ChannelPlan(), 19);
        net.eval();
        using var _ = no_grad();
        var y = net.call(randn(1, 3, 96, 160));
        Assert.Equal(new long[] { 1, 19, 96, 160 }, y.shape);
        var names = net.state_dict().Keys.ToHashSet();
        foreach (var name in new[]
        {
            "learning_to_downsample.conv_bn_relu.conv.weights", "learning_to_downsample.dsconv_bn_relu2.piontwise_conv.bn.scale",
            "global_feature_extractor.bottleneck3.2.block.1.conv.weights", "global_feature_extractor.ppm.stages.3.1.conv.weights",
            "global_feature_extractor.ppm.conv_bn_relu2.conv.weights", "feature_fusion.dwconv.conv.weights", "feature_fusion.conv_high_res.bn.var",
            "classifier.dsconv2.depthwise_conv.conv.weights", "classifier.conv.weights", "classifier.conv.bias",
        })
            Assert.Contains(name, names);
        // PPM: 128 + 4 × 32 channels in; the expansion of the first stage-3 bottleneck is 96 × 6.
        Assert.Equal(new long[] { 128, 256, 3, 3 }, net.state_dict()["global_feature_extractor.ppm.conv_bn_relu2.conv.weights"].shape);
        Assert.Equal(new long[] { 576, 96, 1, 1 }, net.state_dict()["global_feature_extractor.bottleneck3.0.block.0.conv.weights"].shape);
    }

    [Fact]
    public void PrunedEqualsMaskedThroughTheFusionAndRebuildsFromOverrides()
    {
        long live = Tensor.LiveCount;
        using (var scope = NewDisposeScope())
        {
            var options = new ModelOptions { NumClasses = 19, InputSize = 128 };
            Func<nn.Module> ctor = () => new FastScnn(new ChannelPlan(), 19);
            using var net = TestNets.Make(ctor, 13);
            var graph = PruneModel.Graph(net, options);
            var targets = graph.PrunableGroups.Where(g => g.SourceParameters.Any()).Select(g => new PruneTarget(g.SourceParameters.First(), 0.3)).ToList();
            Assert.True(targets.Count > 10, $"only {targets.Count} prunable groups");
            // The fusion adds the two branches: conv_low_res and conv_high_res are one group, pruned together.
            var fusion = graph.GroupOf("feature_fusion.conv_low_res.conv.weights").Members.Select(m => m.ModulePath).ToHashSet();
            Assert.Contains("feature_fusion.conv_high_res.conv", fusion);
            var plan = new Pruner(graph, ChannelImportanceRegistry.Get("l1_norm")).Plan(net, targets);

            using var masked = TestNets.Copy(ctor, net);
            foreach (var g in plan.Groups)
            {
                var removed = g.RemovedChannels.ToHashSet();
                foreach (var m in g.Group.Members)
                {
                    var positions = Enumerable.Range(0, m.ChannelOfPosition.Length).Where(p => removed.Contains(m.ChannelOfPosition[p])).ToList();
                    if (m.Role == MemberRole.ConvOutput) TestNets.ZeroConvOut(masked, m.ModulePath, positions);
                    else if (m.Role == MemberRole.BatchNorm) TestNets.ZeroBn(masked, m.ModulePath, positions);
                }
            }
            using var pruned = TestNets.Copy(ctor, net);
            var result = PruneModel.Apply(pruned, options, graph, targets, "l1_norm");
            pruned.eval();

            var x = randn(new long[] { 2, 3, 128, 128 }, new Generator(5));
            using var _ = no_grad();
            var orig = ((nn.Module<Tensor, Tensor>)net).call(x);
            var want = ((nn.Module<Tensor, Tensor>)masked).call(x);
            var got = ((nn.Module<Tensor, Tensor>)pruned).call(x);
            Assert.True(TestNets.MaxAbsDiff(want, got) < 1e-5, $"pruned and masked differ by {TestNets.MaxAbsDiff(want, got)}");
            Assert.True(TestNets.MaxAbsDiff(orig, want) > 1e-3, "masking changed nothing");
            Assert.InRange(1 - result.After.PaddleGFlops / result.Before.PaddleGFlops, 0.3, 0.7);

            // The channel overrides alone rebuild the pruned network.
            using var rebuilt = new FastScnn(new ChannelPlan(result.Options.ChannelOverrides), 19);
            rebuilt.load_state_dict(pruned.state_dict());
            rebuilt.eval();
            Assert.Equal(0.0, TestNets.MaxAbsDiff(got, rebuilt.call(x)));
        }
        Assert.Equal(live, Tensor.LiveCount);
    }
}
