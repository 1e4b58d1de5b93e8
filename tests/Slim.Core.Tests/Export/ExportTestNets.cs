using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Export;

/// <summary>
/// A MobileNetV3-like block: depthwise conv, hardswish, a squeeze-excitation gate
/// (hardsigmoid × mul), a residual add, a strided branch upsampled (nearest and bilinear) and concatenated.
/// </summary>
internal sealed class MixedNet : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d Stem = new(3, 8, 3, stride: 2, padding: 1, bias: false);
    public readonly BatchNorm2d StemBn = new(8);
    public readonly Conv2d Dw = new(8, 8, 3, padding: 1, groups: 8, bias: false);
    public readonly BatchNorm2d DwBn = new(8);
    public readonly Conv2d SeReduce = new(8, 4, 1);
    public readonly Conv2d SeExpand = new(4, 8, 1);
    public readonly Conv2d Pw = new(8, 8, 1, bias: false);
    public readonly BatchNorm2d PwBn = new(8);
    public readonly Conv2d Down = new(8, 16, 3, stride: 2, padding: 1);
    public readonly Conv2d Head = new(24, 6, 1);

    public MixedNet(Generator g) : base("MixedNet")
    {
        register_module("stem", Stem);
        register_module("stem_bn", StemBn);
        register_module("dw", Dw);
        register_module("dw_bn", DwBn);
        register_module("se_reduce", SeReduce);
        register_module("se_expand", SeExpand);
        register_module("pw", Pw);
        register_module("pw_bn", PwBn);
        register_module("down", Down);
        register_module("head", Head);
        foreach (var bn in new[] { StemBn, DwBn, PwBn }) ExportTestSupport.Randomize(bn, g);
    }

    public override Tensor forward(Tensor x)
    {
        x = F.leaky_relu(StemBn.call(Stem.call(x)), 0.1);
        x = F.hardswish(DwBn.call(Dw.call(x)));
        var se = F.adaptive_avg_pool2d(x, new long[] { 1, 1 });
        se = F.hardsigmoid(SeExpand.call(F.relu(SeReduce.call(se))));
        x = x * se;
        x = x + PwBn.call(Pw.call(x));
        var down = F.leaky_relu(Down.call(x), 0.1);
        var up = F.interpolate(down, scale_factor: 2, mode: "nearest");
        var smooth = F.avg_pool2d(F.interpolate(down, scale_factor: 2, mode: "bilinear"), new long[] { 3, 3 }, new long[] { 1, 1 }, new long[] { 1, 1 });
        var y = torch.cat(new[] { x, up + smooth * 0.5 }, 1);
        y = F.sigmoid(Head.call(y));
        return (y - 0.5) / 2.0;
    }
}

/// <summary>
/// A YOLOv3-like two-scale detector head: conv/bn/leaky stacks, a nearest upsample route concatenated with
/// the finer map, and outputs reshaped to [N, anchors, 5 + classes, H, W] then permuted, as YOLO decoding does.
/// </summary>
internal sealed class TwoScaleNet : nn.Module
{
    private readonly Sequential _c1, _c2, _route, _fine;
    private readonly Conv2d _out1, _out2;

    public TwoScaleNet(Generator g) : base("TwoScaleNet")
    {
        Sequential Cbl(long cin, long cout, long k, long s)
        {
            var bn = new BatchNorm2d(cout, names: BatchNormNames.Paddle);
            ExportTestSupport.Randomize(bn, g);
            return new Sequential(("conv", new Conv2d(cin, cout, k, stride: s, padding: k / 2, bias: false, weightName: "weights")),
                ("bn", bn), ("act", new Activation(ActivationKind.LeakyReLU, 0.1)));
        }
        _c1 = Cbl(3, 8, 3, 2);
        _c2 = Cbl(8, 16, 3, 2);
        _route = Cbl(16, 8, 1, 1);
        _fine = Cbl(16, 8, 3, 1);
        _out1 = new Conv2d(16, 3 * 7, 1, weightName: "weights");
        _out2 = new Conv2d(8, 3 * 7, 1, weightName: "weights");
        register_module("c1", _c1);
        register_module("c2", _c2);
        register_module("yolo_transition", _route);
        register_module("fine", _fine);
        register_module("yolo_output_0", _out1);
        register_module("yolo_output_1", _out2);
    }

    public Tensor[] Forward(Tensor x)
    {
        var f1 = _c1.call(x);
        var f2 = _c2.call(f1);
        var p1 = _out1.call(f2);
        var r = F.interpolate(_route.call(f2), scale_factor: 2, mode: "nearest");
        var p2 = _out2.call(_fine.call(torch.cat(new[] { r, f1 }, 1)));
        return new[] { Decode(p1), Decode(p2) };
    }

    private static Tensor Decode(Tensor p)
    {
        var s = p.shape;
        var v = p.view(s[0], 3, 7, s[2], s[3]).permute(0, 1, 3, 4, 2);
        return torch.cat(new[] { v.narrow(4, 0, 2).sigmoid(), v.narrow(4, 2, 2).exp(), v.narrow(4, 4, 3).sigmoid() }, 4);
    }
}

/// <summary>A module whose forward calls an operator the exporter does not translate (erf).</summary>
internal sealed class ErfNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _conv = new(3, 4, 1);

    public ErfNet() : base("ErfNet") => register_module("body", new Sequential(("conv", _conv), ("gelu_like", new ErfLayer())));

    public override Tensor forward(Tensor x) => ((Sequential)get_submodule("body")).call(x);

    private sealed class ErfLayer() : nn.Module<Tensor, Tensor>("ErfLayer")
    {
        public override Tensor forward(Tensor x) => AtenOp.Get("aten::erf").Tensor(x);
    }
}
