using System.Globalization;
using Spectre.Console;

namespace Slim.Compression.Pruning.Sensitivity;

/// <summary>Sensitivity results as a console table: one row per parameter, one column per ratio, loss in %.</summary>
public static class SensitivityTable
{
    public static Table Build(SensitivityResult result)
    {
        var ci = CultureInfo.InvariantCulture;
        var ratios = result.Points.Select(p => p.Ratio).Distinct().OrderBy(r => r).ToList();
        var table = new Table().Title($"sensitivity ({result.Criterion}), baseline {result.Baseline.ToString("0.####", ci)}");
        table.AddColumn("parameter");
        foreach (var r in ratios) table.AddColumn(new TableColumn(r.ToString("0.##", ci)).RightAligned());
        foreach (var p in result.Parameters)
        {
            var cells = new List<string> { Markup.Escape(p) };
            foreach (var r in ratios)
            {
                var pt = result.Points.FirstOrDefault(x => x.Parameter == p && Math.Abs(x.Ratio - r) < 1e-9);
                cells.Add(pt is null ? "" : (pt.Loss * 100).ToString("0.00", ci) + "%");
            }
            table.AddRow(cells.ToArray());
        }
        return table;
    }

    /// <summary>Writes the table to a console (a test passes one that records to a StringWriter).</summary>
    public static void Write(SensitivityResult result, IAnsiConsole console) => console.Write(Build(result));
}
