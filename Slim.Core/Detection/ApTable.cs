using System.Globalization;
using Spectre.Console;

namespace Slim.Detection;

/// <summary>Printable AP tables (Spectre.Console) for COCO and VOC evaluations.</summary>
public static class ApTable
{
    /// <summary>The twelve COCO stats, one row each, with pycocotools' descriptions.</summary>
    public static Table Coco(CocoEvaluation e)
    {
        var t = new Table().Title("COCO bbox").AddColumn("Metric").AddColumn("Description").AddColumn(new TableColumn("Value").RightAligned());
        for (int i = 0; i < CocoEvaluation.StatNames.Count; i++)
            t.AddRow(CocoEvaluation.StatNames[i], Markup.Escape(CocoEvaluation.StatDescriptions[i]), Format(e.Stats[i]));
        return t;
    }

    /// <summary>AP (IoU 0.50:0.95) of each class, with names where the evaluation has them.</summary>
    public static Table CocoPerClass(CocoEvaluation e, IReadOnlyDictionary<int, string>? names = null) =>
        PerClass("COCO AP per class", e.PerClassAp, names ?? e.ClassNames, "AP", null);

    /// <summary>AP of each class and the mean, for a VOC evaluation.</summary>
    public static Table Voc(VocEvaluation e, IReadOnlyDictionary<int, string>? names = null)
    {
        var title = $"VOC AP@{e.Options.IouThreshold.ToString("0.##", CultureInfo.InvariantCulture)} ({e.Options.Method})";
        return PerClass(title, e.PerClassAp, names, "AP", ("mAP", e.MeanAp));
    }

    private static Table PerClass(string title, IReadOnlyDictionary<int, double> ap, IReadOnlyDictionary<int, string>? names, string column,
        (string Label, double Value)? footer)
    {
        var t = new Table().Title(Markup.Escape(title)).AddColumn(new TableColumn("Class").RightAligned()).AddColumn("Name")
            .AddColumn(new TableColumn(column).RightAligned());
        foreach (var (cls, value) in ap.OrderBy(p => p.Key))
            t.AddRow(cls.ToString(CultureInfo.InvariantCulture), Markup.Escape(names?.GetValueOrDefault(cls) ?? ""), Format(value));
        if (footer is var (label, v)) t.AddRow("", $"[bold]{label}[/]", $"[bold]{Format(v)}[/]");
        return t;
    }

    /// <summary>Three decimals like pycocotools' summary; −1 (undefined) prints as "-1".</summary>
    public static string Format(double v) => v < 0 ? "-1" : v.ToString("0.000", CultureInfo.InvariantCulture);
}
