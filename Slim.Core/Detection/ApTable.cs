using System.Globalization;

namespace Slim.Detection;

/// <summary>AP tables (plain cells, rendered by the front end) for COCO and VOC evaluations.</summary>
public static class ApTable
{
    /// <summary>The twelve COCO stats, one row each, with pycocotools' descriptions.</summary>
    public static ScoreTable Coco(CocoEvaluation e)
    {
        var rows = new List<IReadOnlyList<string>>();
        for (int i = 0; i < CocoEvaluation.StatNames.Count; i++)
            rows.Add(new[] { CocoEvaluation.StatNames[i], CocoEvaluation.StatDescriptions[i], Format(e.Stats[i]) });
        return new ScoreTable("COCO bbox", new[] { "Metric", "Description", "Value (%)" }, rows, new[] { 2 });
    }

    /// <summary>AP (IoU 0.50:0.95) of each class, with names where the evaluation has them.</summary>
    public static ScoreTable CocoPerClass(CocoEvaluation e, IReadOnlyDictionary<int, string>? names = null) =>
        PerClass("COCO AP per class", e.PerClassAp, names ?? e.ClassNames, null);

    /// <summary>AP of each class and the mean, for a VOC evaluation.</summary>
    public static ScoreTable Voc(VocEvaluation e, IReadOnlyDictionary<int, string>? names = null)
    {
        var title = $"VOC AP@{e.Options.IouThreshold.ToString("0.##", CultureInfo.InvariantCulture)} ({e.Options.Method})";
        return PerClass(title, e.PerClassAp, names, ("mAP", e.MeanAp));
    }

    private static ScoreTable PerClass(string title, IReadOnlyDictionary<int, double> ap, IReadOnlyDictionary<int, string>? names,
        (string Label, double Value)? footer)
    {
        var rows = new List<IReadOnlyList<string>>();
        foreach (var (cls, value) in ap.OrderBy(p => p.Key))
            rows.Add(new[] { cls.ToString(CultureInfo.InvariantCulture), names?.GetValueOrDefault(cls) ?? "", Format(value) });
        if (footer is var (label, v)) rows.Add(new[] { "", label, Format(v) });
        return new ScoreTable(title, new[] { "Class", "Name", "AP (%)" }, rows, new[] { 0, 2 });
    }

    /// <summary>A percent with two decimals, the unit of every accuracy figure Slim prints; pycocotools' −1 (no
    /// ground truth of that kind, so undefined) prints as "n/a".</summary>
    public static string Format(double v) => v < 0 ? "n/a" : Units.PctNumber(v);
}
