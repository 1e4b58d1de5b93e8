using System.Globalization;

namespace Slim.Compression.Pruning.Sensitivity;

/// <summary>Sensitivity results as a table of plain cells: one row per parameter, one column per ratio, loss in %.</summary>
public static class SensitivityTable
{
    /// <summary>
    /// The table; with <paramref name="images"/>, its title says how many validation images the unpruned metric (and
    /// every point) was scored on, which a sensitivity run may cut below the whole set for speed.
    /// </summary>
    public static ScoreTable Build(SensitivityResult result, int? images = null)
    {
        var ci = CultureInfo.InvariantCulture;
        var ratios = result.Points.Select(p => p.Ratio).Distinct().OrderBy(r => r).ToList();
        var rows = new List<IReadOnlyList<string>>();
        foreach (var p in result.Parameters)
        {
            var cells = new List<string> { p };
            foreach (var r in ratios)
            {
                var pt = result.Points.FirstOrDefault(x => x.Parameter == p && Math.Abs(x.Ratio - r) < 1e-9);
                cells.Add(pt is null ? "" : (pt.Loss * 100).ToString("0.00", ci));
            }
            rows.Add(cells);
        }
        var columns = new[] { "parameter \\ pruned ratio" }.Concat(ratios.Select(r => r.ToString("0.##", ci))).ToList();
        var on = images is { } n ? $" on {n} validation image{(n == 1 ? "" : "s")}" : "";
        return new ScoreTable($"loss in % of the unpruned {(result.Baseline * 100).ToString("F2", ci)} %{on} ({result.Criterion})", columns, rows,
            Enumerable.Range(1, ratios.Count).ToList());
    }
}
