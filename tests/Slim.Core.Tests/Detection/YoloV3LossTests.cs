using Slim.Detection;
using Slim.Torch;
using static Slim.Torch.torch;
using R = Slim.Core.Tests.Detection.YoloLossReference;

namespace Slim.Core.Tests.Detection;

public class YoloV3LossTests
{
    private static YoloV3LossOptions Options(int classes, double ignore = 0.7, bool smooth = false, double scaleXY = 1.0) => new()
    {
        Geometry = new YoloGeometry { NumClasses = classes, ScaleXY = scaleXY },
        IgnoreThreshold = ignore,
        LabelSmooth = smooth,
    };

    /// <summary>Zero head outputs for a square input (grids input/32, input/16, input/8), as float64 arrays.</summary>
    private static double[][] ZeroOutputs(int n, int classes, int input) =>
        new[] { 32, 16, 8 }.Select(s => new double[n * 3 * (5 + classes) * (input / s) * (input / s)]).ToArray();

    private static Tensor[] ToTensors(double[][] outs, int n, int classes, int input) =>
        outs.Select((o, l) =>
        {
            long g = input / new[] { 32, 16, 8 }[l];
            return tensor(o, n, 3 * (5 + classes), g, g);
        }).ToArray();

    private static int At(int classes, int grid, int b, int a, int ch, int j, int i) =>
        (((b * 3 + a) * (5 + classes) + ch) * grid + j) * grid + i;

    private static double Softplus(double z) => Math.Log(1 + Math.Exp(z));

    [Fact]
    public void SingleBoxPartsMatchHandComputation()
    {
        using var scope = NewDisposeScope();
        const int c = 2, input = 64;
        // A 32x32 px box centred at (19.2, 38.4): its best anchor over all nine is (33, 23) — IoU 0.703 —
        // anchor 2, which stride 8 (level 2, grid 8) owns in slot 2; the centre falls in cell (2, 4).
        var outs = ZeroOutputs(1, c, input);
        var o = outs[2];
        o[At(c, 8, 0, 2, 0, 4, 2)] = 0.2;
        o[At(c, 8, 0, 2, 1, 4, 2)] = -0.3;
        o[At(c, 8, 0, 2, 2, 4, 2)] = 0.1;
        o[At(c, 8, 0, 2, 3, 4, 2)] = 0.2;
        o[At(c, 8, 0, 2, 4, 4, 2)] = 1.0;
        o[At(c, 8, 0, 2, 5, 4, 2)] = 0.5;
        o[At(c, 8, 0, 2, 6, 4, 2)] = -0.5;
        var loss = new YoloV3Loss(Options(c));
        using var r = loss.Compute(ToTensors(outs, 1, c, input),
            tensor(new float[] { 0.3f, 0.6f, 0.5f, 0.5f, 0, 0, 0, 0 }, 1, 2, 4),
            tensor(new long[] { 1, 0 }, 1, 2), tensor(new float[] { 1, 0 }, 1, 2), input, input);

        double tx = 0.3f * 8 - 2, ty = 0.6f * 8 - 4;   // the targets are computed from the float32 box
        double weight = 2 - 0.25;
        double bce(double z, double t) => Softplus(z) - t * z;
        double xy = weight * (bce(0.2, tx) + bce(-0.3, ty));
        double wh = weight * (Math.Abs(0.1 - Math.Log(32.0 / 33)) + Math.Abs(0.2 - Math.Log(32.0 / 23)));
        double cls = bce(0.5, 0) + bce(-0.5, 1);
        // The positive cell with logit 1, and 3*(4+16+64) - 1 negatives with logit 0; no decoded zero-logit box
        // overlaps the ground truth by more than 0.7 (the closest, anchor (33,23) at centre (20,36), has IoU 0.69).
        double obj = bce(1.0, 1) + 251 * Math.Log(2);

        Assert.Equal(xy, r.Xy.item<double>(), 6);
        Assert.Equal(wh, r.Wh.item<double>(), 5);
        Assert.Equal(cls, r.Cls.item<double>(), 9);
        Assert.Equal(obj, r.Obj.item<double>(), 9);
        Assert.Equal(xy + wh + obj + cls, r.Total.item<double>(), 5);
        Assert.Equal(new[] { "loss", "loss_xy", "loss_wh", "loss_obj", "loss_cls" }, r.ToValues().Keys);
    }

    [Fact]
    public void NegativeOverlappingAGroundTruthIsIgnoredAboveTheThreshold()
    {
        using var scope = NewDisposeScope();
        const int c = 1, input = 64;
        var outs = ZeroOutputs(1, c, input);
        // Same box as above. At level 2, cell (2,4), slot 0 (anchor 10x13), predict a box 32x32 centred at
        // (19.2 + 3.2, 38.4): IoU with the ground truth (32 - 3.2) / (32 + 3.2) = 0.818.
        double logit(double p) => Math.Log(p / (1 - p));
        var o = outs[2];
        o[At(c, 8, 0, 0, 0, 4, 2)] = logit(0.8);
        o[At(c, 8, 0, 0, 1, 4, 2)] = logit(0.8);
        o[At(c, 8, 0, 0, 2, 4, 2)] = Math.Log(32.0 / 10);
        o[At(c, 8, 0, 0, 3, 4, 2)] = Math.Log(32.0 / 13);
        o[At(c, 8, 0, 0, 4, 4, 2)] = 2.0;
        var gt = (tensor(new float[] { 0.3f, 0.6f, 0.5f, 0.5f }, 1, 1, 4), tensor(new long[] { 0 }, 1, 1), tensor(new float[] { 1 }, 1, 1));
        double Obj(double thresh)
        {
            using var r = new YoloV3Loss(Options(c, thresh)).Compute(ToTensors(outs, 1, c, input), gt.Item1, gt.Item2, gt.Item3, input, input);
            return r.Obj.item<double>();
        }
        double kept = Obj(0.9), ignored = Obj(0.7);
        Assert.Equal(Softplus(2.0), kept - ignored, 9);
        // What remains at 0.7: the positive (logit 0, target 1) and the other 250 zero-logit negatives, ln 2 each.
        Assert.Equal(251 * Math.Log(2), ignored, 9);
    }

    [Theory]
    [InlineData(false, 1.0)]
    [InlineData(true, 1.0)]
    [InlineData(false, 1.05)]
    public void MatchesNaiveReferenceOnRandomBatch(bool smooth, double scaleXY)
    {
        using var scope = NewDisposeScope();
        const int n = 2, c = 3, input = 96, m = 5;
        var rng = new Random(7);
        var outs = ZeroOutputs(n, c, input);
        foreach (var o in outs) for (int i = 0; i < o.Length; i++) o[i] = rng.NextDouble() * 2 - 1;
        var boxes = new float[]
        {
            0.50f, 0.50f, 0.80f, 0.70f,   0.21f, 0.33f, 0.10f, 0.12f,   0.22f, 0.34f, 0.11f, 0.12f, // two boxes in one cell
            0.70f, 0.20f, 0.30f, 0.50f,   0, 0, 0, 0,                                                 // padding
            0.10f, 0.90f, 0.05f, 0.08f,   0.60f, 0.55f, 0.40f, 0.40f,   0.95f, 0.05f, 0.09f, 0.09f,
            0.40f, 0.40f, 0.20f, 0.30f,   0.40f, 0.40f, 0.20f, 0.30f,                                 // weight 0.5 box, same box twice
        };
        var classes = new long[] { 0, 1, 2, 2, 0, 1, 0, 2, 1, 0 };
        var scores = new float[] { 1, 1, 1, 1, 0, 1, 1, 1, 0.5f, 1 };
        var opts = Options(c, 0.5, smooth, scaleXY);
        using var r = new YoloV3Loss(opts).Compute(ToTensors(outs, n, c, input), tensor(boxes, n, m, 4), tensor(classes, n, m),
            tensor(scores, n, m), input, input);
        var grids = new[] { (3, 3), (6, 6), (12, 12) };
        var e = R.Compute(opts, outs, grids, n, boxes, classes, scores, m, input, input);
        Assert.Equal(e.Xy, r.Xy.item<double>(), 5);
        Assert.Equal(e.Wh, r.Wh.item<double>(), 5);
        Assert.Equal(e.Obj, r.Obj.item<double>(), 9);
        // Class targets are float32 like PaddleDetection's, so smoothed ones carry float32 rounding.
        Assert.Equal(e.Cls, r.Cls.item<double>(), 6);
    }

    [Fact]
    public void GradientMatchesFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        const int n = 1, c = 1, input = 32;
        var rng = new Random(3);
        var outs = ZeroOutputs(n, c, input);
        foreach (var o in outs) for (int i = 0; i < o.Length; i++) o[i] = rng.NextDouble() * 1.6 - 0.8;
        var gt = (tensor(new float[] { 0.4f, 0.6f, 0.5f, 0.4f, 0.8f, 0.2f, 0.2f, 0.3f }, 1, 2, 4),
            tensor(new long[] { 0, 0 }, 1, 2), tensor(new float[] { 1, 0.7f }, 1, 2));
        var loss = new YoloV3Loss(Options(c, 0.5, smooth: true));
        var leaves = ToTensors(outs, n, c, input).Select(t => t.requires_grad_()).ToArray();
        using (var r = loss.Compute(leaves, gt.Item1, gt.Item2, gt.Item3, input, input))
            r.Total.backward();

        double Eval()
        {
            using var s = NewDisposeScope();
            using var _ = no_grad();
            using var r = loss.Compute(ToTensors(outs, n, c, input), gt.Item1, gt.Item2, gt.Item3, input, input);
            return r.Total.item<double>();
        }
        const double h = 1e-6;
        int checkedCount = 0;
        for (int l = 0; l < 3; l++)
        {
            var grad = leaves[l].grad!.data<double>();
            for (int i = 0; i < outs[l].Length; i++)
            {
                double v = outs[l][i];
                outs[l][i] = v + h; double up = Eval();
                outs[l][i] = v - h; double down = Eval();
                outs[l][i] = v;
                Assert.True(Math.Abs((up - down) / (2 * h) - grad[i]) < 1e-5,
                    $"level {l} element {i}: finite difference {(up - down) / (2 * h)} vs autograd {grad[i]}");
                checkedCount++;
            }
        }
        Assert.Equal(3 * 6 * (1 + 4 + 16), checkedCount);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(1.05)]
    public void PerfectPredictionHasMinimalBoxLoss(double scaleXY)
    {
        using var scope = NewDisposeScope();
        const int c = 1, input = 64;
        var outs = ZeroOutputs(1, c, input);
        // Box 32x32 at (0.3, 0.6): level 2, slot 2, cell (2,4), targets tx 0.4, ty 0.8, log(32/33), log(32/23).
        double tx = 0.3f * 8 - 2, ty = 0.6f * 8 - 4;
        double inv(double t) { double p = (t + 0.5 * (scaleXY - 1)) / scaleXY; return Math.Log(p / (1 - p)); }
        var o = outs[2];
        o[At(c, 8, 0, 2, 0, 4, 2)] = inv(tx);
        o[At(c, 8, 0, 2, 1, 4, 2)] = inv(ty);
        o[At(c, 8, 0, 2, 2, 4, 2)] = Math.Log(0.5f * 64 / 33.0);
        o[At(c, 8, 0, 2, 3, 4, 2)] = Math.Log(0.5f * 64 / 23.0);
        var leaves = ToTensors(outs, 1, c, input).Select(t => t.requires_grad_()).ToArray();
        using var r = new YoloV3Loss(Options(c, scaleXY: scaleXY)).Compute(leaves, tensor(new float[] { 0.3f, 0.6f, 0.5f, 0.5f }, 1, 1, 4),
            tensor(new long[] { 0 }, 1, 1), tensor(new float[] { 1 }, 1, 1), input, input);
        Assert.True(r.Wh.item<double>() < 1e-6, $"wh loss {r.Wh.item<double>()}");
        if (scaleXY == 1.0)
        {
            // Cross-entropy against a fractional target bottoms out at the target's entropy, not 0.
            double entropy(double t) => -(t * Math.Log(t) + (1 - t) * Math.Log(1 - t));
            Assert.Equal(1.75 * (entropy(tx) + entropy(ty)), r.Xy.item<double>(), 6);
        }
        else Assert.True(r.Xy.item<double>() < 1e-6, $"xy loss {r.Xy.item<double>()}");
        if (scaleXY != 1.0) return; // L1 has only a subgradient at its minimum
        r.Xy.backward(retain_graph: true);
        var g = leaves[2].grad!.data<double>();
        Assert.True(Math.Abs(g[At(c, 8, 0, 2, 0, 4, 2)]) < 1e-6 && Math.Abs(g[At(c, 8, 0, 2, 1, 4, 2)]) < 1e-6);
    }

    [Fact]
    public void FloatComputeLeavesNoTensorsBehind()
    {
        const int c = 2, input = 64;
        var before = Tensor.LiveCount;
        using (var scope = NewDisposeScope())
        {
            var outs = ToTensors(ZeroOutputs(2, c, input), 2, c, input).Select(t => t.to(float32).requires_grad_()).ToArray();
            var loss = new YoloV3Loss(Options(c));
            using var r = loss.Compute(outs, tensor(new float[] { 0.5f, 0.5f, 0.3f, 0.3f, 0.2f, 0.2f, 0.1f, 0.1f }, 2, 1, 4),
                tensor(new long[] { 1, 0 }, 2, 1), tensor(new float[] { 1, 1 }, 2, 1), input, input);
            Assert.Equal(float32, r.Total.dtype);
            r.Total.backward();
            Assert.True(double.IsFinite(r.Total.item<double>()));
        }
        Assert.Equal(before, Tensor.LiveCount);
    }

    [Fact]
    public void WrongShapesAreRejectedWithTheExpectedShape()
    {
        using var scope = NewDisposeScope();
        var loss = new YoloV3Loss(Options(2));
        var outs = new[] { zeros(1, 20, 2, 2), zeros(1, 21, 4, 4), zeros(1, 21, 8, 8) };
        var ex = Assert.Throws<ArgumentException>(() => loss.Compute(outs, zeros(1, 1, 4), zeros(new long[] { 1, 1 }, int64), zeros(1, 1), 64, 64));
        Assert.Contains("[N, 21, H, W]", ex.Message);
        var bad = new YoloV3LossOptions { Geometry = new YoloGeometry { NumClasses = 2, AnchorMasks = new[] { new[] { 9 } }, DownsampleRatios = new[] { 32 } } };
        Assert.Contains("AnchorMasks[0] names anchor 9", Assert.Throws<ArgumentException>(() => new YoloV3Loss(bad)).Message);
        var outsOk = new[] { zeros(1, 21, 2, 2), zeros(1, 21, 4, 4), zeros(1, 21, 8, 8) };
        Assert.Contains("outside 0..1", Assert.Throws<ArgumentException>(() => loss.Compute(outsOk,
            tensor(new float[] { 0.5f, 0.5f, 0.2f, 0.2f }, 1, 1, 4), tensor(new long[] { 5 }, 1, 1), ones(1, 1), 64, 64)).Message);
    }
}
