using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pruning;

/// <summary>A conv whose channels feed a reshape that is not a flatten (split into two heads of 4).</summary>
internal sealed class ReshapeNet : nn.Module<Tensor, Tensor>
{
    private readonly ConvBn _conv;
    private readonly Conv2d _out, _head;

    public ReshapeNet() : base("ReshapeNet")
    {
        register_module("conv1", _conv = new ConvBn(3, 8, 3));
        register_module("out", _out = new Conv2d(8, 6, 1, weightName: "weights"));
        register_module("head", _head = new Conv2d(6, 4, 1, weightName: "weights"));
    }

    public override Tensor forward(Tensor x)
    {
        var h = _conv.call(x);
        var s = h.shape;
        return _head.call(_out.call(h.view(s[0], 2, 4, s[2], s[3]).sum(1).repeat(1, 2, 1, 1)));
    }
}

public class RatioTests
{
    private static ChannelDependencyGraph YoloGraph()
    {
        using var net = TestNets.Make(() => new TinyYolo(), 1);
        using var scope = NewDisposeScope();
        return ChannelDependencyGraph.Build(net, new[] { randn(1, 3, 16, 16) }, xs => net.call(xs[0]));
    }

    private static string Fails(Func<object> f) => Assert.Throws<PruningException>(f).Message;

    [Fact]
    public void RoundsHalfAwayFromZeroAndKeepsOneChannel()
    {
        Assert.Equal(3, PruningRatios.ChannelsToRemove(5, 0.5));   // banker's rounding would give 2
        Assert.Equal(2, PruningRatios.ChannelsToRemove(3, 0.5));   // 1.5 → 2
        Assert.Equal(2, PruningRatios.ChannelsToRemove(3, 0.99));  // 2.97 → 3, but one channel stays
        Assert.Equal(0, PruningRatios.ChannelsToRemove(8, 0.06));
        Assert.Equal(0, PruningRatios.ChannelsToRemove(1, 0.9));
    }

    [Fact]
    public void GlobsExpandInModelOrder()
    {
        var g = YoloGraph();
        var names = PruningRatios.ExpandParameters("yolo_block.0.*.conv.weights,backbone.c1.conv.weights", g);
        Assert.Equal(new[]
        {
            "yolo_block.0.0.0.conv.weights", "yolo_block.0.0.1.conv.weights", "yolo_block.0.1.0.conv.weights",
            "yolo_block.0.1.1.conv.weights", "yolo_block.0.2.conv.weights", "yolo_block.0.tip.conv.weights", "backbone.c1.conv.weights",
        }, names);
        var targets = PruningRatios.Parse("yolo_block.0.*.conv.weights", "0.1,0.2,0.3,0.4,0.5,0.6", g);
        Assert.Equal(0.6, targets.Single(t => t.Parameter == "yolo_block.0.tip.conv.weights").Ratio);
        Assert.All(PruningRatios.Parse("yolo_block.1.*.conv.weights", "0.25", g), t => Assert.Equal(0.25, t.Ratio));
    }

    [Fact]
    public void PresetsHaveTheModelZooValues()
    {
        Assert.Equal(18, RatioPresets.YoloHeadParameters.Count);
        Assert.Equal("yolo_block.0.0.0.conv.weights", RatioPresets.YoloHeadParameters[0]);
        Assert.Equal("yolo_block.1.2.conv.weights", RatioPresets.YoloHeadParameters[10]);
        Assert.Equal("yolo_block.2.tip.conv.weights", RatioPresets.YoloHeadParameters[17]);
        var r578 = PruningRatios.ParseRatios("r578", 18);
        Assert.Equal(Enumerable.Repeat(0.5, 6).Concat(Enumerable.Repeat(0.7, 6)).Concat(Enumerable.Repeat(0.8, 6)), r578);
        var sensity = PruningRatios.ParseRatios("sensity", 18);
        Assert.Equal("0.1,0.2,0.2,0.2,0.2,0.1,0.2,0.3,0.3,0.3,0.2,0.1,0.3,0.4,0.4,0.4,0.4,0.3", PruningRatios.Format(sensity));
    }

    [Fact]
    public void FormatRoundTrips()
    {
        var r = new[] { 0.3, 0.125, 0.05, 0 };
        Assert.Equal("0.3,0.125,0.05,0", PruningRatios.Format(r));
        Assert.Equal(r, PruningRatios.ParseRatios(PruningRatios.Format(r), 4));
    }

    [Fact]
    public void PresetWithWrongParameterCountFails()
    {
        var g = YoloGraph();
        var m = Fails(() => PruningRatios.Parse("yolo_block.*.conv.weights", "r578", g));
        Assert.Contains("preset 'r578' has 18 ratios", m);
        Assert.Contains("names 12 parameters", m);
        // Without --pruned_params the preset's own 18 names are used; this model lacks block 2.
        Assert.Contains("yolo_block.2.0.0.conv.weights", Fails(() => PruningRatios.Parse(null, "sensity", g)));
    }

    [Fact]
    public void UnknownNameListsNearest()
    {
        var g = YoloGraph();
        var m = Fails(() => PruningRatios.Parse("yolo_block.0.0.0.conv.weight", "0.5", g));
        Assert.Contains("no parameter 'yolo_block.0.0.0.conv.weight'", m);
        Assert.Contains("nearest: 'yolo_block.0.0.0.conv.weights'", m);
        var glob = Fails(() => PruningRatios.Parse("yolo_blok.*.conv.weights", "0.5", g));
        Assert.Contains("'yolo_blok.*.conv.weights' matches no parameter", glob);
        Assert.Contains("nearest: 'yolo_block.", glob);
    }

    [Fact]
    public void RatioOutsideRangeFails()
    {
        var g = YoloGraph();
        Assert.Contains("ratio 1 (item 1, for 'backbone.c1.conv.weights') is outside [0, 1)",
            Fails(() => PruningRatios.Parse("backbone.c1.conv.weights", "1.0", g)));
        Assert.Contains("ratio -0.1 (item 2, for 'backbone.c2.conv.weights') is outside [0, 1)",
            Fails(() => PruningRatios.Parse("backbone.c1.conv.weights,backbone.c2.conv.weights", "0.2,-0.1", g)));
        Assert.Contains("neither a number nor a preset", Fails(() => PruningRatios.Parse("backbone.c1.conv.weights", "half", g)));
        Assert.Contains("'r587' (item 1) is neither a number nor a preset (r578, sensity); nearest: 'r578'",
            Fails(() => PruningRatios.ParseRatios("r587", 18)));
    }

    [Fact]
    public void RatioCountMismatchFails()
    {
        var g = YoloGraph();
        Assert.Contains("has 3 ratios but --pruned_params names 2 parameters",
            Fails(() => PruningRatios.Parse("backbone.c1.conv.weights,backbone.c2.conv.weights", "0.1,0.2,0.3", g)));
    }

    [Fact]
    public void NonConvParameterFails()
    {
        var g = YoloGraph();
        Assert.Contains("'yolo_block.0.0.0.bn.scale' is not the weight of a Conv2d",
            Fails(() => PruningRatios.Parse("yolo_block.0.0.0.bn.scale", "0.5", g)));
        Assert.Contains("matches only parameters that are not prunable convolution weights",
            Fails(() => PruningRatios.Parse("yolo_block.0.*.bn.scale", "0.5", g)));
    }

    [Fact]
    public void UnprunableGroupsFail()
    {
        var g = YoloGraph();
        Assert.Contains("the channels of 'yolo_output.0.conv.weights' cannot be pruned: its channels reach a model output",
            Fails(() => PruningRatios.Parse("yolo_output.0.conv.weights", "0.5", g)));
        Assert.Contains("reach a model output", Fails(() => PruningRatios.Parse("yolo_output.*.conv.weights", "0.5", g)));

        using var net = TestNets.Make(() => new ReshapeNet(), 1);
        using var scope = NewDisposeScope();
        var rg = ChannelDependencyGraph.Build(net, randn(1, 3, 8, 8));
        var m = Fails(() => PruningRatios.Parse("conv1.conv.weights", "0.5", rg));
        Assert.Contains("cannot be pruned: its channels feed aten::view", m);
        // The conv after the reshape is still prunable on its own.
        Assert.Single(PruningRatios.Parse("out.weights", "0.5", rg));

        using var dnet = TestNets.Make(() => new DepthwiseNet(), 1);
        var dg = ChannelDependencyGraph.Build(dnet, randn(1, 3, 8, 8));
        Assert.Contains("depthwise convolution: its channels follow its input; name the producing convolution 'body.conv1.conv.weights'",
            Fails(() => PruningRatios.Parse("body.dw.conv.weights", "0.5", dg)));
        // Globs skip the depthwise weight instead of failing on it.
        Assert.Equal(new[] { "body.conv1.conv.weights", "body.pw.conv.weights" },
            PruningRatios.Parse("body.*.conv.weights", "0.5", dg).Select(t => t.Parameter));
    }

    [Fact]
    public void CoupledParametersNeedOneRatio()
    {
        using var net = TestNets.Make(() => new ResidualNet(), 1);
        using var scope = NewDisposeScope();
        var g = ChannelDependencyGraph.Build(net, randn(1, 3, 8, 8));
        Assert.Contains("'stem.conv.weights' and 'res2a_branch2b.conv.weights' are coupled",
            Fails(() => PruningRatios.Parse("stem.conv.weights,res2a_branch2b.conv.weights", "0.5,0.25", g)));
        Assert.Equal(2, PruningRatios.Parse("stem.conv.weights,res2a_branch2b.conv.weights", "0.5", g).Count);
        Assert.Contains("listed more than once", Fails(() => PruningRatios.Parse("stem.conv.weights,stem.*", "0.5", g)));
    }

    [Fact]
    public void BuildingTheGraphLeavesBatchNormStatisticsAndModeAlone()
    {
        using var net = TestNets.Make(() => new ChainNet(), 1);
        net.train();
        using var scope = NewDisposeScope();
        var bn = (BatchNorm2d)net.get_submodule("body.conv1.bn");
        var mean = bn.running_mean.clone();
        ChannelDependencyGraph.Build(net, randn(2, 3, 8, 8));
        Assert.True(bn.running_mean.equal(mean));
        Assert.True(net.training && bn.training);
    }

    [Fact]
    public void PruneInsideDisposeScopeLeaksNothing()
    {
        using var net = TestNets.Make(() => new TinyYolo(), 1);
        long before = Tensor.LiveCount;
        using (var scope = NewDisposeScope())
        {
            var g = ChannelDependencyGraph.Build(net, new[] { randn(1, 3, 16, 16) }, xs => net.call(xs[0]));
            var plan = new Pruner(g, ChannelImportanceRegistry.Get("geometry_median"))
                .Plan(net, PruningRatios.Parse("yolo_block.*.conv.weights,backbone.*.conv.weights", "0.5", g));
            Pruner.Apply(net, plan);
        }
        // Parameters were replaced one for one; every temporary is gone.
        Assert.Equal(before, Tensor.LiveCount);
        Assert.Equal(2L, ((Conv2d)net.get_submodule("yolo_block.0.0.0.conv")).out_channels);
    }
}
