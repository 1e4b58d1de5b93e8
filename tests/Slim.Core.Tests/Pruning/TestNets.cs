using Slim.Compression.Pruning;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Pruning;

/// <summary>Conv (weights named "weights") + Paddle-named BatchNorm + activation, as the model zoo's ConvBNLayer.</summary>
internal sealed class ConvBn : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _conv;
    private readonly BatchNorm2d _bn;
    private readonly ActivationKind _act;
    private readonly double _slope;

    public ConvBn(long cin, long cout, long k, long stride = 1, long groups = 1, ActivationKind act = ActivationKind.ReLU, double slope = 0.1)
        : base("ConvBNLayer")
    {
        _conv = new Conv2d(cin, cout, k, stride, k / 2, groups: groups, bias: false, weightName: "weights");
        _bn = new BatchNorm2d(cout, names: BatchNormNames.Paddle);
        _act = act;
        _slope = slope;
        register_module("conv", _conv);
        register_module("bn", _bn);
    }

    public override Tensor forward(Tensor x) => Activation.Apply(_act, _bn.call(_conv.call(x)), _slope);
}

/// <summary>Chain: conv-bn-relu → conv-bn-leaky(0.1) → output conv with bias.</summary>
internal sealed class ChainNet : nn.Module<Tensor, Tensor>
{
    private readonly Sequential _body;

    public ChainNet() : base("ChainNet")
    {
        _body = new Sequential(
            ("conv1", new ConvBn(3, 8, 3)),
            ("conv2", new ConvBn(8, 6, 3, act: ActivationKind.LeakyReLU)),
            ("out", new Conv2d(6, 4, 1, weightName: "weights")));
        register_module("body", _body);
    }

    public override Tensor forward(Tensor x) => _body.call(x);
}

/// <summary>MobileNetV1-style: pointwise → depthwise → pointwise, hardswish, then an output conv.</summary>
internal sealed class DepthwiseNet : nn.Module<Tensor, Tensor>
{
    private readonly Sequential _body;

    public DepthwiseNet() : base("DepthwiseNet")
    {
        _body = new Sequential(
            ("conv1", new ConvBn(3, 8, 1, act: ActivationKind.HardSwish)),
            ("dw", new ConvBn(8, 8, 3, groups: 8, act: ActivationKind.HardSwish)),
            ("pw", new ConvBn(8, 6, 1, act: ActivationKind.ReLU)),
            ("out", new Conv2d(6, 3, 1, weightName: "weights")));
        register_module("body", _body);
    }

    public override Tensor forward(Tensor x) => _body.call(x);
}

/// <summary>A YOLOv3 detection block: 1x1/3x3 pairs, the route conv "2" and the "tip".</summary>
internal sealed class YoloBlock : nn.Module<Tensor, Tensor[]>
{
    private readonly Sequential _p0, _p1;
    private readonly ConvBn _route, _tip;

    public YoloBlock(long cin, long ch) : base("YoloDetBlock")
    {
        ActivationKind a = ActivationKind.LeakyReLU;
        _p0 = new Sequential(("0", new ConvBn(cin, ch, 1, act: a)), ("1", new ConvBn(ch, ch * 2, 3, act: a)));
        _p1 = new Sequential(("0", new ConvBn(ch * 2, ch, 1, act: a)), ("1", new ConvBn(ch, ch * 2, 3, act: a)));
        _route = new ConvBn(ch * 2, ch, 1, act: a);
        _tip = new ConvBn(ch, ch * 2, 3, act: a);
        register_module("0", _p0);
        register_module("1", _p1);
        register_module("2", _route);
        register_module("tip", _tip);
    }

    /// <summary>(route, tip).</summary>
    public override Tensor[] forward(Tensor x)
    {
        var route = _route.call(_p1.call(_p0.call(x)));
        return new[] { route, _tip.call(route) };
    }
}

/// <summary>
/// A two-scale YOLOv3: backbone features c1 (stride 2) and c2 (stride 4); block 0 on c2; its route
/// goes through yolo_transition.0 (1x1) and a nearest upsample, then is concatenated with c1 for
/// block 1. Outputs are the two yolo_output convs (with bias).
/// </summary>
internal sealed class TinyYolo : nn.Module<Tensor, Tensor[]>
{
    private readonly ConvBn _b1, _b2;
    private readonly ModuleList<YoloBlock> _blocks;
    private readonly ModuleList<Sequential> _outputs;
    private readonly ModuleList<ConvBn> _transitions;

    public TinyYolo() : base("TinyYolo")
    {
        var backbone = new Sequential(("c1", _b1 = new ConvBn(3, 6, 3, 2)), ("c2", _b2 = new ConvBn(6, 8, 3, 2)));
        register_module("backbone", backbone);
        _blocks = new ModuleList<YoloBlock>(new YoloBlock(8, 4), new YoloBlock(6 + 3, 3));
        _outputs = new ModuleList<Sequential>(
            new Sequential(("conv", new Conv2d(8, 7, 1, weightName: "weights"))),
            new Sequential(("conv", new Conv2d(6, 7, 1, weightName: "weights"))));
        _transitions = new ModuleList<ConvBn>(new ConvBn(4, 3, 1, act: ActivationKind.LeakyReLU));
        register_module("yolo_block", _blocks);
        register_module("yolo_output", _outputs);
        register_module("yolo_transition", _transitions);
    }

    public override Tensor[] forward(Tensor x)
    {
        var c1 = _b1.call(x);
        var c2 = _b2.call(c1);
        var r0 = _blocks[0].call(c2);
        var o0 = _outputs[0].call(r0[1]);
        var up = F.interpolate(_transitions[0].call(r0[0]), null, 2.0, "nearest");
        var r1 = _blocks[1].call(cat(new[] { up, c1 }, 1));
        var o1 = _outputs[1].call(r1[1]);
        return new[] { o0, o1 };
    }
}

/// <summary>ResNet basic blocks: an identity block (conv-bn-relu, conv-bn, + input) and one with a 1x1 shortcut.</summary>
internal sealed class ResidualNet : nn.Module<Tensor, Tensor>
{
    private readonly ConvBn _stem, _a1, _a2, _b1, _b2, _short;
    private readonly Conv2d _out;

    public ResidualNet() : base("ResidualNet")
    {
        register_module("stem", _stem = new ConvBn(3, 8, 3));
        register_module("res2a_branch2a", _a1 = new ConvBn(8, 5, 3));
        register_module("res2a_branch2b", _a2 = new ConvBn(5, 8, 3, act: ActivationKind.Identity));
        register_module("res3a_branch2a", _b1 = new ConvBn(8, 6, 3, 2));
        register_module("res3a_branch2b", _b2 = new ConvBn(6, 10, 3, act: ActivationKind.Identity));
        register_module("res3a_branch1", _short = new ConvBn(8, 10, 1, 2, act: ActivationKind.Identity));
        register_module("out", _out = new Conv2d(10, 4, 1, weightName: "weights"));
    }

    public override Tensor forward(Tensor x)
    {
        var s = _stem.call(x);
        var a = F.relu(_a2.call(_a1.call(s)) + s);
        var b = F.relu(_b2.call(_b1.call(a)) + _short.call(a));
        return _out.call(b);
    }
}

/// <summary>
/// MobileNetV3 inverted residual with SE: expand 1x1 → depthwise 3x3 → SE (pool, 1x1+relu,
/// 1x1+hardsigmoid, multiply) → project 1x1 (no activation) + input.
/// </summary>
internal sealed class SeNet : nn.Module<Tensor, Tensor>
{
    private readonly ConvBn _stem, _expand, _dw, _project;
    private readonly Conv2d _se1, _se2, _out;

    public SeNet() : base("SeNet")
    {
        register_module("conv1", _stem = new ConvBn(3, 6, 3, act: ActivationKind.HardSwish));
        var block = new Sequential(Array.Empty<nn.Module<Tensor, Tensor>>());
        register_module("block", block);
        block.Add("expand_conv", _expand = new ConvBn(6, 8, 1, act: ActivationKind.HardSwish));
        block.Add("bottleneck_conv", _dw = new ConvBn(8, 8, 3, groups: 8, act: ActivationKind.HardSwish));
        var se = new Sequential(Array.Empty<nn.Module<Tensor, Tensor>>());
        block.Add("se_block", se);
        se.Add("conv1", _se1 = new Conv2d(8, 4, 1, weightName: "weights", biasName: "offset"));
        se.Add("conv2", _se2 = new Conv2d(4, 8, 1, weightName: "weights", biasName: "offset"));
        block.Add("linear_conv", _project = new ConvBn(8, 6, 1, act: ActivationKind.Identity));
        register_module("out", _out = new Conv2d(6, 5, 1, weightName: "weights"));
    }

    public override Tensor forward(Tensor x)
    {
        var s = _stem.call(x);
        var h = _dw.call(_expand.call(s));
        var pooled = F.adaptive_avg_pool2d(h, new long[] { 1, 1 });
        var gate = F.hardsigmoid(_se2.call(F.relu(_se1.call(pooled))));
        var y = _project.call(h * gate) + s;
        return _out.call(y);
    }
}

/// <summary>Classifier: conv-bn-relu → max pool → flatten → Linear.</summary>
internal sealed class FlattenNet : nn.Module<Tensor, Tensor>
{
    private readonly ConvBn _conv;
    private readonly Linear _fc;

    public FlattenNet() : base("FlattenNet")
    {
        register_module("conv1", _conv = new ConvBn(3, 8, 3));
        register_module("fc", _fc = new Linear(8 * 4 * 4, 5, weightName: "weights", biasName: "offset"));
    }

    public override Tensor forward(Tensor x) =>
        _fc.call(F.max_pool2d(_conv.call(x), new long[] { 2, 2 }).flatten(1));
}

internal static class TestNets
{
    /// <summary>Builds a net with seeded weights and random BN statistics so every channel differs.</summary>
    public static T Make<T>(Func<T> ctor, long seed) where T : nn.Module
    {
        manual_seed(seed);
        var net = ctor();
        var g = new Generator(seed + 1);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (_, m) in net.named_modules())
        {
            if (m is not BatchNorm2d bn) continue;
            long n = bn.num_features;
            bn.weight.copy_(rand(new[] { n }, g) + 0.5);
            bn.bias.copy_(randn(new[] { n }, g) * 0.2);
            bn.running_mean.copy_(randn(new[] { n }, g) * 0.1);
            bn.running_var.copy_(rand(new[] { n }, g) + 0.5);
        }
        net.eval();
        return net;
    }

    /// <summary>A copy of net with the same weights (fresh instance from ctor, state dict loaded).</summary>
    public static T Copy<T>(Func<T> ctor, T net) where T : nn.Module
    {
        var copy = ctor();
        copy.load_state_dict(net.state_dict());
        copy.eval();
        return copy;
    }

    /// <summary>Zeroes channel c of a conv's weight rows and bias (out channels).</summary>
    public static void ZeroConvOut(nn.Module net, string path, IEnumerable<int> channels)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var conv = (Conv2d)net.get_submodule(path);
        foreach (var c in channels)
        {
            conv.weight.select(0, c).zero_();
            conv.bias?.select(0, c).zero_();
        }
    }

    /// <summary>Zeroes scale and offset of BN channels so they output exactly zero.</summary>
    public static void ZeroBn(nn.Module net, string path, IEnumerable<int> channels)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var bn = (BatchNorm2d)net.get_submodule(path);
        foreach (var c in channels)
        {
            bn.weight.select(0, c).zero_();
            bn.bias.select(0, c).zero_();
        }
    }

    /// <summary>
    /// Zeroes in <paramref name="net"/> every channel <paramref name="plan"/> removes: the producing convs' rows and their batch
    /// norms, at each member's positions of the group's channels. The pruned model must then compute what this one does.
    /// </summary>
    public static void ZeroPlannedChannels(nn.Module net, PruningPlan plan)
    {
        foreach (var g in plan.Groups)
        {
            var removed = g.RemovedChannels.ToHashSet();
            foreach (var m in g.Group.Members)
            {
                var positions = Enumerable.Range(0, m.ChannelOfPosition.Length).Where(p => removed.Contains(m.ChannelOfPosition[p])).ToList();
                if (m.Role == MemberRole.ConvOutput) ZeroConvOut(net, m.ModulePath, positions);
                else if (m.Role == MemberRole.BatchNorm) ZeroBn(net, m.ModulePath, positions);
            }
        }
    }

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(a.shape, b.shape);
        return (a - b).abs().max().item<double>();
    }
}
