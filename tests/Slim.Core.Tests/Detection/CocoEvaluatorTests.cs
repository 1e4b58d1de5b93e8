using Slim.Detection;

namespace Slim.Core.Tests.Detection;

/// <summary>
/// Hand-computed COCOeval cases (Debian has no python3-pycocotools to generate fixtures with). Each expected
/// value is derived in the comments from pycocotools' rules: 101 recall points, precision envelope,
/// -1 where a range has no ground truth.
/// </summary>
public class CocoEvaluatorTests
{
    private static GroundTruthBox Gt(long img, int cls, double x1, double y1, double x2, double y2, bool crowd = false, double? area = null) =>
        new(img, cls, x1, y1, x2, y2, crowd, false, area);

    private static DetectedBox Dt(long img, int cls, float score, float x1, float y1, float x2, float y2) => new(img, cls, score, x1, y1, x2, y2);

    private static void AssertStats(double[] expected, CocoEvaluation e)
    {
        for (int i = 0; i < 12; i++)
            Assert.True(Math.Abs(expected[i] - e.Stats[i]) < 1e-6, $"{CocoEvaluation.StatNames[i]}: expected {expected[i]}, got {e.Stats[i]}");
    }

    [Fact]
    public void HitMissHitUsesThePrecisionEnvelopeAt101Points()
    {
        // Two large boxes; detections hit (0.9), miss (0.8), hit (0.7): recall .5 .5 1, precision 1 .5 .667,
        // envelope 1 .667 .667. Recall points 0.00..0.50 (51) read 1, 0.51..1.00 (50) read 2/3.
        var gts = new[] { Gt(1, 0, 0, 0, 100, 100), Gt(1, 0, 200, 200, 300, 300) };
        var dts = new[] { Dt(1, 0, 0.9f, 0, 0, 100, 100), Dt(1, 0, 0.8f, 500, 500, 600, 600), Dt(1, 0, 0.7f, 200, 200, 300, 300) };
        double ap = (51 + 50 * 2.0 / 3) / 101;
        AssertStats(new[] { ap, ap, ap, -1, -1, ap, 0.5, 1, 1, -1, -1, 1 }, CocoEvaluator.Evaluate(gts, dts));
    }

    [Fact]
    public void IouThresholdsCountAHitOnlyUpToItsOverlap()
    {
        // IoU 0.72: a hit at 0.50..0.70 (5 thresholds, AP 1), a miss at 0.75..0.95 (AP 0).
        var e = CocoEvaluator.Evaluate(new[] { Gt(1, 0, 0, 0, 100, 100) }, new[] { Dt(1, 0, 0.5f, 0, 0, 100, 72) });
        AssertStats(new[] { 0.5, 1, 0, -1, -1, 0.5, 0.5, 0.5, 0.5, -1, -1, 0.5 }, e);
    }

    [Fact]
    public void CrowdRegionsAbsorbDetectionsWithoutCountingThem()
    {
        // gt1: area field 2000 (medium), crowd region 200x200. d3 (0.95) half inside the crowd
        // (intersection / own area = 0.5): ignored at IoU 0.50, a false positive above. d1 (0.9) inside the
        // crowd: ignored at every threshold (the crowd is matched again). d2 (0.8) hits gt1.
        // At 0.50: ign ign hit → AP 1. Above: fp ign hit → recall 0 0 1, precision 0 0 .5 → AP .5.
        var gts = new[] { Gt(1, 0, 0, 0, 50, 50, area: 2000), Gt(1, 0, 100, 0, 300, 200, crowd: true) };
        var dts = new[] { Dt(1, 0, 0.95f, 280, 0, 320, 40), Dt(1, 0, 0.9f, 120, 20, 170, 70), Dt(1, 0, 0.8f, 0, 0, 50, 50) };
        double ap = (1 + 9 * 0.5) / 10;
        // AR1: only d3 counts per image: ignored at 0.50, a miss above → 0.
        AssertStats(new[] { ap, 1, 0.5, -1, ap, -1, 0, 1, 1, -1, 1, -1 }, CocoEvaluator.Evaluate(gts, dts));
    }

    [Fact]
    public void AreaRangesIgnoreOtherSizesAndMaxDetsCapPerImage()
    {
        var gts = new[]
        {
            Gt(1, 0, 0, 0, 20, 20),        // small
            Gt(1, 0, 100, 100, 250, 250),  // large
            Gt(2, 0, 0, 0, 50, 50),        // medium
            Gt(2, 1, 0, 0, 40, 40),        // medium
        };
        var dts = new[]
        {
            Dt(1, 0, 0.95f, 400, 400, 410, 410), // small false positive
            Dt(1, 0, 0.9f, 100, 100, 250, 250),
            Dt(1, 0, 0.6f, 0, 0, 20, 20),
            Dt(2, 0, 0.5f, 0, 0, 50, 50),
            Dt(2, 1, 0.85f, 200, 200, 400, 400), // large false positive
            Dt(2, 1, 0.8f, 0, 0, 40, 40),
            Dt(3, 2, 0.7f, 0, 0, 10, 10),        // a class without ground truth: undefined, so no effect
        };
        // Class 0 all: fp hit hit hit over 3 → envelope .75 everywhere; class 1: fp hit → .5. AP .625.
        // Small: class 0 only (s1): fp, ign (large gt), hit, ign (medium gt) → .5.
        // Medium: class 0 ign ign ign hit → 1; class 1 (large fp outside range ignored) → 1.
        // Large: class 0: small fp outside → ignored, hit → 1.
        // AR1: class 0 keeps the fp of image 1 and the hit of image 2 → 1/3; class 1 keeps its fp → 0.
        var e = CocoEvaluator.Evaluate(gts, dts, imageIds: new long[] { 1, 2, 3, 4 });
        AssertStats(new[] { 0.625, 0.625, 0.625, 0.5, 1, 1, 1.0 / 6, 1, 1, 1, 1, 1 }, e);
        Assert.Equal(0.75, e.PerClassAp[0], 9);
        Assert.Equal(0.5, e.PerClassAp[1], 9);
        Assert.Equal(-1, e.PerClassAp[2]);
    }

    [Fact]
    public void OnlyTheHundredBestDetectionsOfAnImageCount()
    {
        var dts = Enumerable.Range(0, 100).Select(i => Dt(1, 0, 0.9f - i * 0.001f, 500 + i, 500, 510 + i, 510)).ToList();
        dts.Add(Dt(1, 0, 0.1f, 0, 0, 100, 100)); // the only hit, 101st by score
        var e = CocoEvaluator.Evaluate(new[] { Gt(1, 0, 0, 0, 100, 100) }, dts);
        Assert.Equal(0, e.AP);
        Assert.Equal(0, e.AR100);
        dts.RemoveAt(0);
        var e2 = CocoEvaluator.Evaluate(new[] { Gt(1, 0, 0, 0, 100, 100) }, dts);
        Assert.Equal(1, e2.AR100, 9);
        Assert.Equal(0.01, e2.AP, 9); // precision 1/100 at the hit, read at all 101 points
    }

    [Fact]
    public void SecondDetectionOfOneObjectIsAFalsePositive()
    {
        // Hits in order fp(dup of gt1 scored lower is handled after) : d1 .9 gt1, d2 .8 gt1 again (fp), d3 .7 gt2.
        var gts = new[] { Gt(1, 0, 0, 0, 100, 100), Gt(1, 0, 200, 0, 300, 100) };
        var dts = new[] { Dt(1, 0, 0.9f, 0, 0, 100, 100), Dt(1, 0, 0.8f, 0, 0, 100, 100), Dt(1, 0, 0.7f, 200, 0, 300, 100) };
        Assert.Equal((51 + 50 * 2.0 / 3) / 101, CocoEvaluator.Evaluate(gts, dts).AP, 9);
    }

    [Fact]
    public void NoDetectionsGivesZeroAndNoGroundTruthGivesMinusOne()
    {
        var e = CocoEvaluator.Evaluate(new[] { Gt(1, 0, 0, 0, 100, 100) }, Array.Empty<DetectedBox>());
        Assert.Equal(0, e.AP);
        Assert.Equal(-1, e.APSmall);
        var empty = CocoEvaluator.Evaluate(Array.Empty<GroundTruthBox>(), new[] { Dt(1, 0, 0.5f, 0, 0, 1, 1) });
        Assert.All(empty.Stats, s => Assert.Equal(-1, s));
    }

    [Fact]
    public void IouThresholdsAreNumpyLinspace()
    {
        // numpy.linspace(.5, .95, 10): index 5 must be exactly 0.75 for AP75 to be found by equality in pycocotools.
        Assert.Equal(0.75, CocoEvaluator.IouThresholds[5]);
        Assert.Equal(0.95, CocoEvaluator.IouThresholds[9]);
    }
}
