using Slim.Data;
using Slim.Detection;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Detection;

public class MultiClassNmsTests
{
    private static List<DetectedBox> Run(float[][] boxes, float[][] scores, NmsOptions? o = null) =>
        MultiClassNms.Apply(7, boxes.SelectMany(b => b).ToArray(), scores.SelectMany(s => s).ToArray(), scores[0].Length, o ?? new NmsOptions());

    [Fact]
    public void OverlappingSameClassBoxIsSuppressed()
    {
        // Boxes 0 and 1 overlap with IoU 80/120 = 0.667 > 0.45; box 2 is apart.
        var boxes = new[] { new float[] { 0, 0, 10, 10 }, new float[] { 2, 0, 12, 10 }, new float[] { 50, 50, 60, 60 } };
        var d = Run(boxes, new[] { new[] { 0.9f }, new[] { 0.8f }, new[] { 0.3f } });
        Assert.Equal(new[] { 0.9f, 0.3f }, d.Select(x => x.Score));
        Assert.All(d, x => Assert.Equal(7, x.ImageId));
        Assert.Equal(new DetectedBox(7, 0, 0.9f, 0, 0, 10, 10), d[0]);
    }

    [Fact]
    public void DifferentClassesDoNotSuppressEachOther()
    {
        var boxes = new[] { new float[] { 0, 0, 10, 10 }, new float[] { 0, 0, 10, 10 } };
        var d = Run(boxes, new[] { new[] { 0.9f, 0.0f }, new[] { 0.0f, 0.8f } });
        Assert.Equal(new[] { (0, 0.9f), (1, 0.8f) }, d.Select(x => (x.ClassId, x.Score)));
    }

    [Fact]
    public void IouEqualToTheThresholdIsKeptAndAboveIsNot()
    {
        // IoU of [0,10]x[0,10] and [5,15]x[0,10] is 50 / 150 = 1/3.
        var boxes = new[] { new float[] { 0, 0, 10, 10 }, new float[] { 5, 0, 15, 10 } };
        var scores = new[] { new[] { 0.9f }, new[] { 0.8f } };
        Assert.Equal(2, Run(boxes, scores, new NmsOptions { NmsThreshold = 1.0 / 3 + 1e-9 }).Count);
        Assert.Single(Run(boxes, scores, new NmsOptions { NmsThreshold = 0.33 }));
    }

    [Fact]
    public void KeepTopKKeepsTheBestOverAllClassesGroupedByClass()
    {
        var boxes = Enumerable.Range(0, 4).Select(i => new float[] { 20 * i, 0, 20 * i + 10, 10 }).ToArray();
        var scores = new[] { new[] { 0.2f, 0.0f }, new[] { 0.0f, 0.9f }, new[] { 0.7f, 0.0f }, new[] { 0.0f, 0.5f } };
        var d = Run(boxes, scores, new NmsOptions { KeepTopK = 3 });
        Assert.Equal(new[] { (0, 0.7f), (1, 0.9f), (1, 0.5f) }, d.Select(x => (x.ClassId, x.Score)));
        Assert.Equal(4, Run(boxes, scores, new NmsOptions { KeepTopK = -1 }).Count);
    }

    [Fact]
    public void ScoreThresholdIsStrictAndNmsTopKCutsCandidatesFirst()
    {
        var boxes = Enumerable.Range(0, 3).Select(i => new float[] { 20 * i, 0, 20 * i + 10, 10 }).ToArray();
        var scores = new[] { new[] { 0.01f }, new[] { 0.6f }, new[] { 0.5f } };
        Assert.Equal(2, Run(boxes, scores, new NmsOptions { ScoreThreshold = 0.01f }).Count);
        Assert.Equal(new[] { 0.6f }, Run(boxes, scores, new NmsOptions { NmsTopK = 1 }).Select(x => x.Score));
    }

    [Fact]
    public void PixelInclusiveIouCountsTheEdgePixels()
    {
        // Continuous IoU of [0,9] and [5,14] is 4/14 = 0.286; with inclusive pixels 5/15 = 0.333.
        var boxes = new[] { new float[] { 0, 0, 9, 9 }, new float[] { 5, 0, 14, 9 } };
        var scores = new[] { new[] { 0.9f }, new[] { 0.8f } };
        Assert.Equal(2, Run(boxes, scores, new NmsOptions { NmsThreshold = 0.3 }).Count);
        Assert.Single(Run(boxes, scores, new NmsOptions { NmsThreshold = 0.3, Normalized = false }));
    }

    [Fact]
    public void StoppingAClassAtKeepTopKGivesTheSameResultAsCuttingAfterwards()
    {
        // Regression guard for the early stop per class: many overlapping noisy boxes, three classes.
        var rng = new Random(11);
        int k = 400, c = 3;
        var boxes = new float[k * 4];
        var scores = new float[k * c];
        for (int i = 0; i < k; i++)
        {
            float x = (float)rng.NextDouble() * 100, y = (float)rng.NextDouble() * 100;
            boxes[4 * i] = x; boxes[4 * i + 1] = y;
            boxes[4 * i + 2] = x + 5 + (float)rng.NextDouble() * 20; boxes[4 * i + 3] = y + 5 + (float)rng.NextDouble() * 20;
        }
        for (int i = 0; i < scores.Length; i++) scores[i] = (float)rng.NextDouble();
        var all = MultiClassNms.Apply(1, boxes, scores, c, new NmsOptions { KeepTopK = -1 });
        var top = MultiClassNms.Apply(1, boxes, scores, c, new NmsOptions { KeepTopK = 10 });
        var expected = all.OrderByDescending(d => d.Score).Take(10).OrderBy(d => d.ClassId).ThenByDescending(d => d.Score);
        Assert.True(all.Count > 10);
        Assert.Equal(expected, top);
    }

    [Fact]
    public void BadSettingsAreNamed()
    {
        var ex = Assert.Throws<ArgumentException>(() => Run(new[] { new float[] { 0, 0, 1, 1 } }, new[] { new[] { 1f } }, new NmsOptions { KeepTopK = 0 }));
        Assert.Contains("KeepTopK", ex.Message);
    }
}

public class YoloBoxDecoderTests
{
    private static double Sig(double z) => 1 / (1 + Math.Exp(-z));

    [Fact]
    public void OneConfidentCellDecodesToItsBoxInOriginalPixels()
    {
        using var scope = NewDisposeScope();
        const int c = 2;
        // 64x64 input from a 200x100 original. All objectness logits -10 (below 0.005) except stride 16,
        // anchor slot 1 (anchor 4: 62x45), cell row 1, column 2.
        var outs = new[] { 2, 4, 8 }.Select(g => full(new long[] { 1, 3 * (5 + c), g, g }, -10.0)).ToArray();
        var o = outs[1];
        int ch0 = 1 * (5 + c);
        double tx = 0.3, ty = -0.2, tw = -1.0, th = -0.4, to = 1.5, c0 = -1, c1 = 2;
        foreach (var (ch, v) in new[] { (0, tx), (1, ty), (2, tw), (3, th), (4, to), (5, c0), (6, c1) })
            o[0][ch0 + ch][1][2].fill_(v);
        var info = new ImageInfo(42, "x.jpg", 200, 100, 64, 64);
        var dec = new YoloBoxDecoder(new YoloBoxDecoderOptions { Geometry = new YoloGeometry { NumClasses = c } });
        var dets = dec.Decode(outs, new[] { info })[0];

        double cx = (2 + Sig(tx)) * 200 / 4, cy = (1 + Sig(ty)) * 100 / 4;
        double w = Math.Exp(tw) * 62 * 200 / 64, h = Math.Exp(th) * 45 * 100 / 64;
        double conf = Sig(to);
        Assert.Equal(2, dets.Count);
        Assert.Equal(new[] { 0, 1 }, dets.Select(d => d.ClassId));
        Assert.Equal(conf * Sig(c0), dets[0].Score, 5);
        Assert.Equal(conf * Sig(c1), dets[1].Score, 5);
        var d1 = dets[1];
        Assert.Equal(42, d1.ImageId);
        Assert.Equal(cx - w / 2, d1.X1, 3);
        Assert.Equal(cy - h / 2, d1.Y1, 3);
        Assert.Equal(cx + w / 2, d1.X2, 3);
        Assert.Equal(cy + h / 2, d1.Y2, 3);
    }

    [Fact]
    public void BoxesAreClippedToTheImageAndLowConfidenceCellsDropped()
    {
        using var scope = NewDisposeScope();
        const int c = 1;
        var outs = new[] { 1, 2, 4 }.Select(g => full(new long[] { 2, 3 * (5 + c), g, g }, -10.0)).ToArray();
        // A huge box (anchor 373x326 times e^2) in the single stride-32 cell of image 1, confident.
        var o = outs[0];
        o[1][2 * (5 + c) + 2].fill_(2.0);
        o[1][2 * (5 + c) + 3].fill_(2.0);
        o[1][2 * (5 + c) + 4].fill_(3.0);
        o[1][2 * (5 + c) + 5].fill_(3.0);
        var infos = new[] { new ImageInfo(1, "a", 50, 40, 32, 32), new ImageInfo(2, "b", 50, 40, 32, 32) };
        var dec = new YoloBoxDecoder(new YoloBoxDecoderOptions { Geometry = new YoloGeometry { NumClasses = c } });
        var (boxes, scores) = dec.DecodeBoxes(outs, infos);
        Assert.Equal(new long[] { 2, 3 * (1 + 4 + 16), 4 }, boxes.shape);
        Assert.Equal(new long[] { 2, 63, 1 }, scores.shape);
        var dets = dec.Decode(outs, infos);
        Assert.Empty(dets[0]);
        var d = Assert.Single(dets[1]);
        Assert.Equal(new DetectedBox(2, 0, d.Score, 0, 0, 49, 39), d);
        Assert.Equal(Sig(3) * Sig(3), d.Score, 5);
    }

    [Fact]
    public void MismatchedInfosAreRejected()
    {
        using var scope = NewDisposeScope();
        var outs = new[] { 1, 2, 4 }.Select(g => zeros(2, 18, g, g)).ToArray();
        var dec = new YoloBoxDecoder(new YoloBoxDecoderOptions { Geometry = new YoloGeometry { NumClasses = 1 } });
        Assert.Contains("1 image infos for a batch of 2",
            Assert.Throws<ArgumentException>(() => dec.Decode(outs, new[] { new ImageInfo(1, "a", 5, 5, 32, 32) })).Message);
    }
}
