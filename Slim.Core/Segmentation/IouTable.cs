using System.Globalization;
using Slim.Common;

namespace Slim.Segmentation;

/// <summary>The per-class table of a segmentation score (plain cells, rendered by the front end).</summary>
public static class IouTable
{
    /// <summary>
    /// IoU, accuracy and ground-truth share of each class ("n/a" for a class absent from the ground truth, which the means
    /// leave out), then the means.
    /// </summary>
    public static ScoreTable PerClass(SegmentationScores s, IReadOnlyList<string>? names = null)
    {
        static string Pct(double? v) => v is { } x ? Units.PctNumber(x) : "n/a";
        // Without names the class column alone says which row is which, and the mean goes under it.
        var rows = new List<IReadOnlyList<string>>();
        for (int c = 0; c < s.ClassIou.Count; c++)
        {
            var share = s.Pixels > 0 ? (double)s.ClassPixels[c] / s.Pixels : 0;
            var label = c.ToString(CultureInfo.InvariantCulture);
            string[] values = [Pct(s.ClassIou[c]), Pct(s.ClassAccuracy[c]), Units.PctNumber(share)];
            rows.Add(names is null ? [label, .. values] : [label, c < names.Count ? names[c] : "", .. values]);
        }
        string[] mean = [Units.PctNumber(s.MeanIou), Units.PctNumber(s.MeanClassAccuracy), ""];
        rows.Add(names is null ? ["mean", .. mean] : ["", "mean", .. mean]);
        string[] columns = ["IoU (%)", "Accuracy (%)", "Pixels (%)"];
        return names is null
            ? new ScoreTable("IoU per class", ["Class", .. columns], rows, [1, 2, 3])
            : new ScoreTable("IoU per class", ["Class", "Name", .. columns], rows, [0, 2, 3, 4]);
    }

    /// <summary>One line: mIoU (unless <paramref name="withMeanIou"/> is off, where the caller says it), pixel accuracy, mean class accuracy, kappa and what was counted.</summary>
    public static string Summary(SegmentationScores s, int images, bool withMeanIou = true) => string.Create(CultureInfo.InvariantCulture,
        $"{(withMeanIou ? $"mIoU {s.MeanIou * 100:F2} % (" : "")}the {s.ClassIou.Count(v => v.HasValue)} of {s.ClassIou.Count} classes present in the ground truth{(withMeanIou ? ")" : "")}; " +
        $"pixel accuracy {s.PixelAccuracy * 100:F2} %, mean class accuracy {s.MeanClassAccuracy * 100:F2} %, kappa {s.Kappa:F4}; {images} images, {s.Pixels:N0} pixels counted, {s.IgnoredPixels:N0} ignored");
}
