using Slim.Segmentation;

namespace Slim.Core.Tests.Segmentation;

public class ConfusionMatrixTests
{
    [Fact]
    public void ScoresEqualAHandComputedCaseWithAnIgnoredPixel()
    {
        // Ground truth and prediction of 8 pixels, one ignored: (t, p) = (0,0) (0,1) (1,1) (1,1) (2,0) — (0,0) (1,2).
        //           pred 0  1  2 | truth
        // truth 0:       2  1  0 |   3
        // truth 1:       0  2  1 |   3
        // truth 2:       1  0  0 |   1
        // predicted:     3  3  1
        // IoU: 2/(3+3-2) = 0.5, 2/(3+3-2) = 0.5, 0/(1+1-0) = 0; accuracy 2/3, 2/3, 0; pixel accuracy 4/7;
        // kappa: chance (3·3 + 3·3 + 1·1)/49 = 19/49, so (28/49 - 19/49) / (1 - 19/49) = 0.3.
        var m = new ConfusionMatrix(3);
        m.Add(new byte[] { 0, 0, 1, 1, 2, 255, 0, 1 }, new byte[] { 0, 1, 1, 1, 0, 2, 0, 2 });
        Assert.Equal(2, m[0, 0]);
        Assert.Equal(1, m[2, 0]);
        var s = m.Scores();
        Assert.Equal(7, s.Pixels);
        Assert.Equal(1, s.IgnoredPixels);
        Assert.Equal(new double?[] { 0.5, 0.5, 0 }, s.ClassIou);
        Assert.Equal(1.0 / 3, s.MeanIou, 12);
        Assert.Equal(4.0 / 9, s.MeanClassAccuracy, 12);
        Assert.Equal(4.0 / 7, s.PixelAccuracy, 12);
        Assert.Equal(0.3, s.Kappa, 12);
        Assert.Equal(new long[] { 3, 3, 1 }, s.ClassPixels);
    }

    [Fact]
    public void AClassAbsentFromTheGroundTruthDoesNotCountInTheMeanEvenWhenPredicted()
    {
        // Class 3 is predicted once but never true, class 2 neither: both n/a. IoU 0 = 1/(2+1-1), IoU 1 = 1/1: mean 0.75,
        // not (0.5 + 1 + 0 + 0) / 4. The wrong prediction still costs class 0 its pixel.
        var m = new ConfusionMatrix(4);
        m.Add(new byte[] { 0, 0, 1 }, new byte[] { 3, 0, 1 });
        var s = m.Scores();
        Assert.Equal(new double?[] { 0.5, 1, null, null }, s.ClassIou);
        Assert.Equal(0.75, s.MeanIou, 12);
        Assert.Null(s.ClassAccuracy[3]);
    }

    [Fact]
    public void MatricesOfImagesAddUpToTheMatrixOfAllPixels()
    {
        var rng = new Random(4);
        var truth = new byte[500];
        var predicted = new byte[500];
        for (int i = 0; i < truth.Length; i++)
        {
            truth[i] = (byte)(rng.Next(6) == 0 ? 255 : rng.Next(5));
            predicted[i] = (byte)rng.Next(5);
        }
        var whole = new ConfusionMatrix(5);
        whole.Add(truth, predicted);
        var parts = new ConfusionMatrix(5);
        foreach (var (a, b) in new[] { (0, 120), (120, 333), (333, 500) })
        {
            var part = new ConfusionMatrix(5);
            part.Add(truth.AsSpan(a, b - a), predicted.AsSpan(a, b - a));
            parts.Add(part);
        }
        Assert.Equal(whole.Scores().MeanIou, parts.Scores().MeanIou);
        Assert.Equal(whole.Pixels + whole.IgnoredPixels, truth.Length);
    }

    [Fact]
    public void LabelsOutsideTheClassesAreErrorsNamingThePixel()
    {
        var m = new ConfusionMatrix(3);
        var t = Assert.Throws<LabelOutOfRangeException>(() => m.Add(new byte[] { 0, 7 }, new byte[] { 0, 0 }));
        Assert.Equal((1, 7, true), (t.Index, t.Label, t.Truth));
        Assert.Contains("nor the ignore index 255", t.Message);
        var p = Assert.Throws<LabelOutOfRangeException>(() => m.Add(new byte[] { 0, 1 }, new byte[] { 3, 0 }));
        Assert.Equal((0, 3, false), (p.Index, p.Label, p.Truth));
        Assert.Throws<ArgumentException>(() => new ConfusionMatrix(3, ignoreIndex: 2));
        Assert.Throws<ArgumentException>(() => m.Add(new byte[] { 0 }, new byte[] { 0, 1 }));
    }
}
