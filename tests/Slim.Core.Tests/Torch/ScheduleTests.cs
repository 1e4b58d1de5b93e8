using Slim.Torch;
using static Slim.Torch.torch;
using static Slim.Torch.torch.optim.lr_scheduler;

namespace Slim.Core.Tests.Torch;

/// <summary>Learning-rate schedules against values worked out by hand.</summary>
public class ScheduleTests
{
    [Fact]
    public void PiecewiseDecayStepsAtTheBoundaries()
    {
        var s = PiecewiseDecay.FromGamma(0.1, new long[] { 100, 200 }, 0.1);
        Assert.Equal(0.1, s.At(0), 15);
        Assert.Equal(0.1, s.At(99), 15);
        Assert.Equal(0.01, s.At(100), 15);
        Assert.Equal(0.01, s.At(199), 15);
        Assert.Equal(0.001, s.At(200), 15);
        Assert.Equal(0.001, s.At(10_000), 15);
        var explicitValues = new PiecewiseDecay(new long[] { 3 }, new[] { 0.5, 0.2 });
        Assert.Equal(0.5, explicitValues.At(2));
        Assert.Equal(0.2, explicitValues.At(3));
        Assert.Throws<ArgumentException>(() => new PiecewiseDecay(new long[] { 3, 5 }, new[] { 0.5 }));
        Assert.Throws<ArgumentException>(() => new PiecewiseDecay(new long[] { 5, 3 }, new[] { 0.5, 0.2, 0.1 }));
    }

    [Fact]
    public void PolynomialDecayIsPaddleSegs()
    {
        var s = new PolynomialDecay(0.05, 100, 0.9, 1e-4);
        Assert.Equal(0.05, s.At(0), 15);
        // Halfway: (0.05 - 1e-4) · 0.5^0.9 + 1e-4 = 0.0499 · 0.535887... + 1e-4.
        Assert.Equal(0.0499 * 0.5358867312681466 + 1e-4, s.At(50), 12);
        Assert.Equal(1e-4, s.At(100), 15);
        Assert.Equal(1e-4, s.At(400), 15);
        Assert.Equal(0.5, new PolynomialDecay(1, 2, 1).At(1), 15);
    }

    [Fact]
    public void CosineDecayFollowsHalfACosine()
    {
        var s = new CosineDecay(0.2, 100, 0.02);
        Assert.Equal(0.2, s.At(0), 15);
        // Halfway: min + (base - min)/2.
        Assert.Equal(0.11, s.At(50), 15);
        // A quarter: min + (base - min)(1 + cos(pi/4))/2 = 0.02 + 0.09(1 + 0.70710678...).
        Assert.Equal(0.02 + 0.09 * (1 + Math.Sqrt(0.5)), s.At(25), 15);
        Assert.Equal(0.02, s.At(100), 15);
        Assert.Equal(0.02, s.At(150), 15);
    }

    [Fact]
    public void LinearWarmupRampsToTheInnerSchedule()
    {
        var s = new LinearWarmup(new Constant(0.1), 10, 0.1);
        Assert.Equal(0.01, s.At(0), 15);
        // Halfway through warm-up: 0.1·(0.1·0.5 + 0.5) = 0.055.
        Assert.Equal(0.055, s.At(5), 15);
        Assert.Equal(0.1, s.At(10), 15);
        var stacked = new LinearWarmup(PiecewiseDecay.FromGamma(1.0, new long[] { 4 }), 8, 0.0);
        // Past the inner boundary while still warming up: 0.1 · 6/8.
        Assert.Equal(0.075, stacked.At(6), 15);
    }

    [Fact]
    public void ScheduleSetsTheOptimizerLearningRate()
    {
        using var scope = NewDisposeScope();
        var p = zeros(new long[] { 2 }, requires_grad: true);
        using var opt = new optim.SGD(new[] { p }, 1.0);
        new CosineDecay(0.4, 10).Apply(opt, 5);
        Assert.Equal(0.2, opt.LearningRate, 15);
    }
}
