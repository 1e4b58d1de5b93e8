using Slim.Detection;

namespace Slim.Core.Tests.Detection;

public class VocEvaluatorTests
{
    private static GroundTruthBox Gt(long img, int cls, double x1, double y1, double x2, double y2, bool difficult = false) =>
        new(img, cls, x1, y1, x2, y2, false, difficult);

    private static DetectedBox Dt(long img, int cls, float score, float x1, float y1, float x2, float y2) => new(img, cls, score, x1, y1, x2, y2);

    // Class 0: two counted boxes and a difficult one. Detections by score: hit (.9), miss (.8), hit (.7),
    // on the difficult box (.6, ignored), miss (.5) → precision 1 .5 .667 .5, recall .5 .5 1 1.
    // Class 1: two boxes; miss (.9), hit (.8), hit (.7) → precision 0 .5 .667, recall 0 .5 1.
    private static (GroundTruthBox[], DetectedBox[]) Case()
    {
        var gts = new[]
        {
            Gt(1, 0, 0, 0, 99, 99), Gt(2, 0, 0, 0, 99, 99), Gt(2, 0, 300, 300, 399, 399, difficult: true),
            Gt(1, 1, 500, 500, 599, 599), Gt(2, 1, 500, 500, 599, 599),
        };
        var dts = new[]
        {
            Dt(1, 0, 0.9f, 0, 0, 99, 99), Dt(1, 0, 0.8f, 150, 150, 199, 199), Dt(2, 0, 0.7f, 2, 2, 99, 99),
            Dt(2, 0, 0.6f, 300, 300, 399, 399), Dt(2, 0, 0.5f, 600, 0, 650, 50),
            Dt(1, 1, 0.9f, 0, 500, 50, 550), Dt(1, 1, 0.8f, 500, 500, 599, 599), Dt(2, 1, 0.7f, 500, 500, 599, 599),
        };
        return (gts, dts);
    }

    [Fact]
    public void ElevenPointAp()
    {
        var (g, d) = Case();
        var e = VocEvaluator.Evaluate(g, d, new VocEvaluatorOptions { Method = VocApMethod.ElevenPoint });
        // Class 0: recall 0..0.5 → best precision 1 (6 points), 0.6..1 → 2/3 (5 points). Class 1: 2/3 everywhere.
        Assert.Equal((6 + 5 * 2.0 / 3) / 11, e.PerClassAp[0], 9);
        Assert.Equal(2.0 / 3, e.PerClassAp[1], 9);
        Assert.Equal(((6 + 5 * 2.0 / 3) / 11 + 2.0 / 3) / 2, e.MeanAp, 9);
        Assert.Equal(2, e.GroundTruthCounts[0]);
    }

    [Fact]
    public void IntegralAndAreaAp()
    {
        var (g, d) = Case();
        var integral = VocEvaluator.Evaluate(g, d, new VocEvaluatorOptions { Method = VocApMethod.Integral });
        // Class 0: 1 * .5 + .667 * .5; class 1: the first miss adds no recall, then .5 * .5 + .667 * .5.
        Assert.Equal(0.5 + 0.5 * 2.0 / 3, integral.PerClassAp[0], 9);
        Assert.Equal(0.25 + 0.5 * 2.0 / 3, integral.PerClassAp[1], 9);
        var area = VocEvaluator.Evaluate(g, d, new VocEvaluatorOptions { Method = VocApMethod.Area });
        // The envelope lifts class 1's first half to 2/3.
        Assert.Equal(0.5 + 0.5 * 2.0 / 3, area.PerClassAp[0], 9);
        Assert.Equal(2.0 / 3, area.PerClassAp[1], 9);
    }

    [Fact]
    public void DifficultBoxesCountWhenAskedTo()
    {
        var (g, d) = Case();
        var e = VocEvaluator.Evaluate(g, d, new VocEvaluatorOptions { Method = VocApMethod.Integral, EvaluateDifficult = true });
        // Class 0 now has three boxes: hit miss hit hit miss → precision 1 .5 .667 .75 .6, recall 1/3 1/3 2/3 1 1.
        Assert.Equal(3, e.GroundTruthCounts[0]);
        Assert.Equal(1.0 / 3 + 2.0 / 3 / 3 + 0.75 / 3, e.PerClassAp[0], 9);
    }

    [Fact]
    public void OverlapMustExceedTheThresholdWithInclusivePixels()
    {
        // Inclusive-pixel IoU of [0,9]x[0,4] with [0,9]x[0,9] is 50/100 = 0.5 exactly: not a hit.
        var gts = new[] { Gt(1, 0, 0, 0, 9, 9) };
        Assert.Equal(0, VocEvaluator.Evaluate(gts, new[] { Dt(1, 0, 0.9f, 0, 0, 9, 4) }).MeanAp);
        Assert.Equal(1, VocEvaluator.Evaluate(gts, new[] { Dt(1, 0, 0.9f, 0, 0, 9, 5) }).MeanAp, 9);
        // Continuous IoU of [0,9]x[0,5] is 45/81 = 0.556, of [0,9]x[0,4] 36/81 = 0.44.
        Assert.Equal(0, VocEvaluator.Evaluate(gts, new[] { Dt(1, 0, 0.9f, 0, 0, 9, 4) }, new VocEvaluatorOptions { PixelInclusive = false }).MeanAp);
    }

    [Fact]
    public void ClassesWithoutDetectionsScoreZeroAndClassesWithoutGroundTruthAreLeftOut()
    {
        var gts = new[] { Gt(1, 0, 0, 0, 9, 9), Gt(1, 1, 20, 20, 29, 29) };
        var e = VocEvaluator.Evaluate(gts, new[] { Dt(1, 0, 0.9f, 0, 0, 9, 9), Dt(1, 2, 0.9f, 0, 0, 9, 9) });
        Assert.Equal(new[] { 0, 1 }, e.PerClassAp.Keys.OrderBy(k => k));
        Assert.Equal(0, e.PerClassAp[1]);
        Assert.Equal(0.5, e.MeanAp, 9);
    }
}
