using Slim.Compression.Quantization;
using Slim.Recipes;
using Slim.Torch;
using static Slim.Torch.torch;
using Xunit.Abstractions;

namespace Slim.Core.Tests.Quantization;

public class CalibrationTests(ITestOutputHelper output)
{
    private static ActivationStatistics Collect(IEnumerable<Tensor> batches, bool histogram = true)
    {
        var s = new ActivationStatistics(histogram);
        foreach (var b in batches) s.Add(b);
        return s;
    }

    private static IEnumerable<Tensor> Uniform(int batches, long seed)
    {
        using var g = new Generator(seed);
        for (int i = 0; i < batches; i++) yield return rand(new long[] { 25_000 }, g) * 2 - 1;
    }

    private static IEnumerable<Tensor> GaussianWithOutlier(long seed, float outlier)
    {
        using var g = new Generator(seed);
        for (int i = 0; i < 4; i++) yield return randn(new long[] { 500_000 }, g);
        yield return tensor(new[] { outlier, 0.5f, -0.25f }, 3);
    }

    [Fact]
    public void UniformDataThresholdsSitAtTheMaximum()
    {
        using var scope = NewDisposeScope();
        var s = Collect(Uniform(4, 1));
        double max = s.AbsMax;
        Assert.InRange(max, 0.999, 1.0);
        Assert.InRange(s.Threshold(CalibrationAlgo.Avg), 0.999, max);
        Assert.InRange(s.Threshold(CalibrationAlgo.Hist, 0.9999), 0.99 * max, 1.001 * max);
        // Clipping a uniform distribution costs more than the finer grid gains: MSE keeps nearly all of it.
        Assert.InRange(s.Threshold(CalibrationAlgo.Mse), 0.95 * max, 1.001 * max);
        Assert.InRange(s.Threshold(CalibrationAlgo.Kl), 0.9 * max, 1.001 * max);
        output.WriteLine($"uniform: max {max:F4}, avg {s.Threshold(CalibrationAlgo.Avg):F4}, hist {s.Threshold(CalibrationAlgo.Hist):F4}, kl {s.Threshold(CalibrationAlgo.Kl):F4}, mse {s.Threshold(CalibrationAlgo.Mse):F4}");
    }

    [Fact]
    public void OutlierPullsAbsMaxButNotHistKlOrMse()
    {
        using var scope = NewDisposeScope();
        var s = Collect(GaussianWithOutlier(2, 1000f));
        Assert.Equal(1000, s.Threshold(CalibrationAlgo.AbsMax), 3);
        output.WriteLine($"outlier: hist {s.Threshold(CalibrationAlgo.Hist):F3}, kl {s.Threshold(CalibrationAlgo.Kl):F3}, mse {s.Threshold(CalibrationAlgo.Mse):F3}, avg {s.Threshold(CalibrationAlgo.Avg):F3}");
        // Percentile 0.9999 of |N(0,1)| is 3.89; the bins are 1000/2048 wide.
        Assert.InRange(s.Threshold(CalibrationAlgo.Hist, 0.9999), 3.4, 4.9);
        Assert.InRange(s.Threshold(CalibrationAlgo.Kl), 3, 100);
        // One outlier X among N values: MSE balances (X − t)² against N·(t/127)²/12, so t ≈ X / (1 + N/(12·127²)) ≈ X/11.
        Assert.InRange(s.Threshold(CalibrationAlgo.Mse), 2, 150);
        // avg is the mean of the batch maxima: four Gaussian maxima (≈4.4) and the outlier batch.
        Assert.InRange(s.Threshold(CalibrationAlgo.Avg), (4 * 4 + 1000) / 5.0, (4 * 5 + 1000) / 5.0);
    }

    [Fact]
    public void KlAndMseThresholdsOfAGaussianLieInTheirKnownBands()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(3);
        var s = Collect(Enumerable.Range(0, 4).Select(_ => randn(new long[] { 50_000 }, g)));
        // TensorRT's entropy calibration clips a Gaussian well inside its sample maximum (≈4.5σ here).
        double kl = s.Threshold(CalibrationAlgo.Kl);
        Assert.InRange(kl, 2.5, 0.95 * s.AbsMax);
        // MSE-optimal 8-bit clipping of a Gaussian is near 3.9σ (Banner et al., ACIQ); a finite sample has a lighter tail.
        double mse = s.Threshold(CalibrationAlgo.Mse);
        output.WriteLine($"gaussian: max {s.AbsMax:F3}, kl {kl:F3}, mse {mse:F3}, hist {s.Threshold(CalibrationAlgo.Hist):F3}");
        Assert.InRange(mse, 3.0, 4.6);
        Assert.True(mse < 0.95 * s.AbsMax, $"mse {mse} sits at the maximum {s.AbsMax}: a fall-back to abs_max would pass as well");
    }

    [Fact]
    public void KlLeavesTheExactZerosOfAReluOutputOut()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(4);
        var s = Collect(Enumerable.Range(0, 4).Select(_ => randn(new long[] { 50_000 }, g).relu()));
        Assert.InRange(s.ZeroCount / s.Count, 0.45, 0.55);
        // The positive half of a Gaussian (100k values): the threshold lands in the upper tail.
        double kl = s.Threshold(CalibrationAlgo.Kl);
        output.WriteLine($"relu(gaussian): max {s.AbsMax:F3}, kl {kl:F3}, kl with the zeros kept {ThresholdSearch.Entropy(s.Histogram!, s.Range):F3}");
        Assert.InRange(kl, 2.5, 0.98 * s.AbsMax); // in the tail, yet below the maximum an abs_max fall-back would give
        // Kept in, the zero spike drags the threshold down (to 1.5, clipping the top 7% of the positive values).
        Assert.True(ThresholdSearch.Entropy(s.Histogram!, s.Range) < 0.5 * kl, "with the zeros kept the threshold is not pulled down: the test shows nothing");
    }

    [Fact]
    public void HistogramGrowthByMergingBinsMatchesAHistogramOverTheFinalRange()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        var first = rand(new long[] { 10_000 }, g);            // max < 1
        var second = rand(new long[] { 10_000 }, g) * 3.5;     // max > 2: range doubles twice
        var grown = Collect(new[] { first, second });
        Assert.Equal(20_000, grown.Histogram!.Sum(), 6);
        Assert.Equal(grown.AbsMax, Math.Max(first.max().item<float>(), second.max().item<float>()), 6);

        // The same data histogrammed over the final range in one go.
        var all = cat(new[] { first, second });
        var counts = AtenOp.Get("aten::histc").Tensor(all, (long)ActivationStatistics.Bins, 0.0, grown.Range).ToFloatArray();
        double diff = counts.Select((c, i) => Math.Abs(c - grown.Histogram![i])).Sum();
        Assert.True(diff <= 4, $"merged histogram differs by {diff} counts"); // only float ties at bin edges may differ
        Assert.InRange(grown.Range, first.max().item<float>() * 4 * 0.999, first.max().item<float>() * 4 * 1.001);
    }

    [Fact]
    public void SquaredErrorFormulaMatchesMeasuredQuantizationError()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(6);
        var x = randn(new long[] { 200_000 }, g).abs();
        var s = Collect(new[] { x });
        foreach (double t in new[] { 1.0, 2.5, 4.0 })
        {
            double predicted = ThresholdSearch.SquaredError(s.Histogram!, s.Range / ActivationStatistics.Bins, s.ZeroCount, t) / s.Count;
            var q = FakeQuant.PerTensor(x, FakeQuant.ScaleOf(t));
            double measured = (q - x).square().mean().item<float>();
            Assert.True(Math.Abs(predicted - measured) <= 0.03 * measured, $"t={t}: predicted {predicted}, measured {measured}");
        }
    }

    [Fact]
    public void EmptyCalibrationSetIsAClearError()
    {
        using var net = TestNets.Classifier();
        var e = Assert.Throws<QuantizationException>(() =>
            PostTrainingQuantizer.Run(net, new QuantizationOptions(), TestNets.Forward(net), Array.Empty<Tensor>()));
        Assert.Contains("calibration set is empty", e.Message);
    }

    [Theory]
    [InlineData(CalibrationAlgo.AbsMax)]
    [InlineData(CalibrationAlgo.Avg)]
    [InlineData(CalibrationAlgo.Hist)]
    [InlineData(CalibrationAlgo.Kl)]
    [InlineData(CalibrationAlgo.Mse)]
    public void PostTrainingQuantizedNetStaysCloseToFloat(CalibrationAlgo algorithm)
    {
        using var reference = TestNets.Detector(seed: 9);
        using var net = TestNets.Detector(seed: 9);
        using var scope = NewDisposeScope();
        using var g = new Generator(10);
        var calibration = Enumerable.Range(0, 4).Select(_ => randn(new long[] { 4, 3, 16, 16 }, g)).ToList();
        var test = randn(new long[] { 4, 3, 16, 16 }, g);
        var expected = TestNets.Eval(reference, test);

        var (plan, result) = PostTrainingQuantizer.Run(net, new QuantizationOptions { Algorithm = algorithm, QuantOutput = true },
            TestNets.Forward(net), calibration);
        Assert.Equal(plan.Quantized.Select(l => l.Path), result.Layers.Select(l => l.ModulePath));
        Assert.Equal(QuantizationResult.AlgorithmName(algorithm), result.ActivationAlgorithm);
        Assert.All(result.Layers, l => Assert.True(l.InputScale > 0 && l.WeightScales.All(w => w > 0)));
        double err = TestNets.RelativeError(TestNets.Eval(net, test), expected);
        output.WriteLine($"{algorithm}: relative output error {err:F5}");
        Assert.True(err < 0.05, $"{algorithm}: relative error {err}");
    }
}
