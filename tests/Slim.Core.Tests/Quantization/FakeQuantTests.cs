using Slim.Compression.Quantization;
using Slim.Recipes;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Quantization;

public class FakeQuantTests
{
    [Fact]
    public void ObserverFollowsPaddleMovingAverageAbsMaxByHand()
    {
        // rate 0.9, batch maxima 2, 4, 1:
        // state 1, accum 2 → 2; state 1.9, accum 5.8 → 3.052631…; state 2.71, accum 6.22 → 2.295202…
        var (s1, a1, t1) = MovingAverageAbsMax.Update(0, 0, 2, 0.9);
        Assert.Equal((1.0, 2.0, 2.0), (s1, a1, t1));
        var (s2, a2, t2) = MovingAverageAbsMax.Update(s1, a1, 4, 0.9);
        Assert.Equal(1.9, s2, 12);
        Assert.Equal(5.8, a2, 12);
        Assert.Equal(5.8 / 1.9, t2, 12);
        var (_, _, t3) = MovingAverageAbsMax.Update(s2, a2, 1, 0.9);
        Assert.Equal(6.22 / 2.71, t3, 12);

        // The layer's buffers follow the same steps in training mode and stay fixed in eval mode.
        using var scope = NewDisposeScope();
        using var linear = nn.Linear(3, 2);
        using var q = new QuantLinear("fc", linear);
        foreach (var m in new[] { 2f, -4f, 1f })
            q.call(tensor(new[] { 0.5f, m, 0.25f }, 1, 3));
        Assert.Equal(6.22 / 2.71, q.InputThreshold, 5);
        q.eval();
        q.call(tensor(new[] { 100f, 0f, 0f }, 1, 3));
        Assert.Equal(6.22 / 2.71, q.InputThreshold, 5);
        Assert.Equal(q.InputThreshold / 127, q.InputScale, 9);
    }

    [Fact]
    public void EvaluatingWithoutAnyScaleIsAClearError()
    {
        using var scope = NewDisposeScope();
        using var linear = nn.Linear(3, 2);
        using var q = new QuantLinear("head.fc", linear);
        q.eval();
        var e = Assert.Throws<QuantizationException>(() => q.call(ones(1, 3)));
        Assert.Contains("head.fc", e.Message);
    }

    [Fact]
    public void QuantConv2dGradientsAreStraightThrough()
    {
        // One 1×1 conv, input threshold 1.27 (scale 0.01): inputs beyond ±1.27 are clamped and get no gradient.
        using var scope = NewDisposeScope();
        manual_seed(2);
        using var conv = nn.Conv2d(2, 3, 1, bias: true);
        using var q = QuantConv2d.Folded("c", conv, null);
        q.SetInputThreshold(1.27);
        q.eval();
        var xData = new[] { 0.3f, -0.7f, 2.5f, 0.05f, -3f, 1.1f, 0.9f, -1.2f }; // [1, 2, 2, 2]
        var x = tensor(xData, 1, 2, 2, 2).requires_grad_();
        var g = randn(1, 3, 2, 2);
        var y = q.call(x);
        (y * g).sum().backward();

        var wq = FakeQuant.PerChannelWeight(q.weight.detach()).ToFloatArray(); // [3, 2]
        var gd = g.ToFloatArray();
        var gx = x.grad!.ToFloatArray();
        var xq = FakeQuant.PerTensor(x.detach(), 0.01).ToFloatArray();
        for (int c = 0; c < 2; c++)
            for (int p = 0; p < 4; p++)
            {
                double expected = 0;
                if (Math.Abs(xData[c * 4 + p]) <= 1.27)
                    for (int o = 0; o < 3; o++) expected += gd[o * 4 + p] * wq[o * 2 + c];
                Assert.Equal(expected, gx[c * 4 + p], 5);
            }
        // Weights are inside their own abs-max range, so their gradient is the plain conv gradient w.r.t. wq.
        var gw = q.weight.grad!.ToFloatArray();
        for (int o = 0; o < 3; o++)
            for (int c = 0; c < 2; c++)
            {
                double expected = 0;
                for (int p = 0; p < 4; p++) expected += gd[o * 4 + p] * xq[c * 4 + p];
                Assert.Equal(expected, gw[o * 2 + c], 5);
            }
        var gb = q.bias!.grad!.ToFloatArray();
        for (int o = 0; o < 3; o++) Assert.Equal(gd.Skip(o * 4).Take(4).Sum(), gb[o], 5);
    }

    [Fact]
    public void TrainingPathWithBatchStatisticsMatchesFiniteDifferencesInGamma()
    {
        // The fused conv-BN training path is differentiable in γ (through the weight scaling and BN).
        using var scope = NewDisposeScope();
        manual_seed(4);
        using var conv = nn.Conv2d(2, 3, 3, padding: 1, bias: false);
        var bn = TestNets.Bn(3);
        using var q = QuantConv2d.ForTraining("c", conv, bn);
        q.SetInputThreshold(10); // wide: no input clamping
        q.ObserverEnabled = false;
        var x = randn(4, 2, 5, 5);
        var g = randn(4, 3, 5, 5);
        double Loss()
        {
            using var s = NewDisposeScope();
            using var _ = no_grad();
            using var mean = bn.running_mean.clone();
            using var vr = bn.running_var.clone();
            double l = (q.call(x) * g).sum().item<float>();
            bn.running_mean.copy_(mean);
            bn.running_var.copy_(vr);
            return l;
        }
        (q.call(x) * g).sum().backward();
        var analytic = bn.weight.grad!.ToFloatArray();
        // Restore the running statistics the forward above updated.
        var gamma = bn.weight;
        for (int c = 0; c < 3; c++)
        {
            // Steps small against γ, large against the quantization grid's jumps in the loss: use
            // the gradient of the BN part only, checked with a central difference at step 1e-3.
            double h = 1e-3;
            using (no_grad()) gamma.index_put_(new Tensor?[] { tensor(new long[] { c }) }, gamma[c] + h);
            double up = Loss();
            using (no_grad()) gamma.index_put_(new Tensor?[] { tensor(new long[] { c }) }, gamma[c] - 2 * h);
            double down = Loss();
            using (no_grad()) gamma.index_put_(new Tensor?[] { tensor(new long[] { c }) }, gamma[c] + h);
            double numeric = (up - down) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic[c]) <= 0.05 * Math.Abs(analytic[c]) + 0.05,
                $"channel {c}: analytic {analytic[c]}, numeric {numeric}");
        }
    }

    [Fact]
    public void Int8RuntimeArithmeticAgreesWithFakeQuantWithinOneStep()
    {
        // Integer conv from the exported parameters (int8 codes, int32 accumulation) against the fake-quant model.
        using var net = TestNets.Classifier(seed: 8);
        using var scope = NewDisposeScope();
        var x = randn(2, 1, 8, 8);
        var (_, result) = PostTrainingQuantizer.Run(net, new QuantizationOptions { Algorithm = CalibrationAlgo.AbsMax },
            TestNets.Forward(net), new[] { x });
        var layer = result.Find("conv1")!;
        Assert.Equal("bn1", layer.FoldedBatchNorm);
        Assert.Equal("conv1.weight", layer.WeightParameter);
        Assert.Equal("conv1.bias", layer.BiasParameter);
        Assert.Equal(8, layer.WeightScales.Length);

        var q = (QuantConv2d)net.get_submodule("conv1");
        float[] fake;
        using (no_grad()) fake = q.call(x).ToFloatArray();

        var xs = x.ToFloatArray();
        var folded = result.Folded("conv1");
        var wCodes = layer.QuantizeWeight(folded.Weight);
        int n = 2, h = 8, w = 8, oc = 8;
        double maxErr = 0;
        for (int b = 0; b < n; b++)
            for (int o = 0; o < oc; o++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                    {
                        long acc = 0;
                        for (int di = -1; di <= 1; di++)
                            for (int dj = -1; dj <= 1; dj++)
                            {
                                int ii = i + di, jj = j + dj;
                                if (ii < 0 || jj < 0 || ii >= h || jj >= w) continue;
                                double xv = xs[b * h * w + ii * w + jj];
                                long xq = (long)Math.Clamp(Math.Round(xv / layer.InputScale, MidpointRounding.ToEven), -128, 127);
                                acc += xq * wCodes[o * 9 + (di + 1) * 3 + (dj + 1)];
                            }
                        double y = acc * (double)layer.InputScale * layer.WeightScales[o] + folded.Bias![o];
                        double f = fake[((b * oc + o) * h + i) * w + j];
                        // One output step of this layer is input scale × weight scale.
                        maxErr = Math.Max(maxErr, Math.Abs(y - f) / (layer.InputScale * layer.WeightScales[o]));
                    }
        Assert.True(maxErr < 1, $"int8 arithmetic differs from fake quant by {maxErr} output steps");
    }
}
