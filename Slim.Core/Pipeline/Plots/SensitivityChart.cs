using System.Globalization;
using ScottPlot;
using Slim.Compression.Pruning.Sensitivity;

namespace Slim.Pipeline.Plots;

/// <summary>
/// Sensitivity curves as small multiples: one panel per block of parameters (at most <see cref="MaxCurvesPerPanel"/>
/// curves each, in model order), every curve with its own colour and marker, legends outside the data, and one y
/// range for all panels so that panels compare at a glance. x = pruned ratio, y = metric loss in % of the unpruned
/// metric (the unit of the sensitivity table).
/// </summary>
public static class SensitivityChart
{
    public const int MaxCurvesPerPanel = 6;
    public const int PanelWidth = 520, PanelHeight = 300;

    /// <summary>The parameters of each panel, in model order: consecutive parameters of one block (the first two
    /// name segments, as yolo_block.0 or backbone.conv4_1) share a panel; small blocks are merged and large ones split
    /// so that no panel holds more than <see cref="MaxCurvesPerPanel"/> curves.</summary>
    public static IReadOnlyList<IReadOnlyList<string>> Panels(IReadOnlyList<string> parameters)
    {
        var blocks = new List<List<string>>();
        foreach (var p in parameters)
        {
            if (blocks.Count > 0 && BlockOf(blocks[^1][0]) == BlockOf(p)) blocks[^1].Add(p);
            else blocks.Add([p]);
        }
        var panels = new List<IReadOnlyList<string>>();
        var current = new List<string>();
        foreach (var block in blocks)
        {
            if (current.Count > 0 && current.Count + block.Count > MaxCurvesPerPanel)
            {
                panels.Add(current);
                current = [];
            }
            foreach (var p in block)
            {
                if (current.Count == MaxCurvesPerPanel)
                {
                    panels.Add(current);
                    current = [];
                }
                current.Add(p);
            }
        }
        if (current.Count > 0) panels.Add(current);
        return panels;
    }

    /// <summary>The figure's size for a result: panels in up to three columns.</summary>
    public static (int Width, int Height, int Columns, int Rows) Size(SensitivityResult result)
    {
        int n = Math.Max(1, Panels(result.Parameters).Count);
        int columns = Math.Min(3, n), rows = (n + columns - 1) / columns;
        return (columns * PanelWidth, rows * PanelHeight, columns, rows);
    }

    /// <summary>Renders the figure to PNG bytes.</summary>
    public static byte[] RenderPng(SensitivityResult result)
    {
        PlotStyle.ChooseFont();
        var panels = Panels(result.Parameters);
        var (width, height, columns, rows) = Size(result);
        var losses = result.Points.Select(p => p.Loss * 100).Append(0).ToList();
        double ymin = losses.Min(), ymax = losses.Max();
        double pad = Math.Max(1, (ymax - ymin) * 0.05);
        var multiplot = new Multiplot();
        multiplot.AddPlots(Math.Max(1, panels.Count));
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows, columns);
        var ci = CultureInfo.InvariantCulture;
        for (int k = 0; k < panels.Count; k++)
        {
            var plot = multiplot.GetPlot(k);
            var names = panels[k];
            string prefix = CommonPrefix(names);
            for (int i = 0; i < names.Count; i++)
            {
                var curve = result.Curve(names[i]);
                var xs = curve.Select(p => p.Ratio).Prepend(0).ToArray();
                var ys = curve.Select(p => p.Loss * 100).Prepend(0).ToArray();
                var scatter = plot.Add.Scatter(xs, ys, PlotStyle.Colors[i % PlotStyle.Colors.Length]);
                scatter.MarkerShape = PlotStyle.Markers[i % PlotStyle.Markers.Length];
                scatter.MarkerSize = 7;
                scatter.LineWidth = 1.5f;
                scatter.LegendText = ShortName(names[i], prefix);
            }
            var zero = plot.Add.HorizontalLine(0, 1, Colors.Gray, LinePattern.Dashed);
            zero.ExcludeFromLegend = true;
            plot.Title(panels.Count == 1 ? $"sensitivity ({result.Criterion}), baseline {result.Baseline * 100:F2} %" : PanelTitle(names, prefix), 12);
            plot.XLabel("pruned ratio", 11);
            plot.YLabel("loss (% of baseline)", 11);
            plot.Axes.SetLimits(0, Math.Max(0.05, result.Points.Select(p => p.Ratio).DefaultIfEmpty(1).Max()) * 1.05, ymin - pad, ymax + pad);
            plot.ShowLegend(Edge.Right);
            plot.Legend.FontSize = 10;
        }
        if (panels.Count > 1)
            multiplot.GetPlot(0).Title(string.Create(ci, $"{result.Criterion}, baseline {result.Baseline * 100:F2} %: {PanelTitle(panels[0], CommonPrefix(panels[0]))}"), 12);
        return multiplot.Render(width, height).GetImageBytes(ImageFormat.Png);
    }

    /// <summary>Renders and writes the PNG atomically.</summary>
    public static void Save(SensitivityResult result, string path) => AtomicFile.WriteAllBytes(path, RenderPng(result));

    private static string BlockOf(string parameter)
    {
        var parts = parameter.Split('.');
        return parts.Length <= 2 ? parts[0] : parts[0] + "." + parts[1];
    }

    private static string CommonPrefix(IReadOnlyList<string> names)
    {
        if (names.Count < 2) return BlockOf(names[0]) + ".";
        var first = names[0];
        int n = first.Length;
        foreach (var s in names.Skip(1))
        {
            n = Math.Min(n, s.Length);
            for (int i = 0; i < n; i++)
                if (s[i] != first[i])
                {
                    n = i;
                    break;
                }
        }
        int dot = first.LastIndexOf('.', Math.Max(0, n - 1));
        return dot < 0 ? "" : first[..(dot + 1)];
    }

    private static string PanelTitle(IReadOnlyList<string> names, string prefix) =>
        prefix.Length > 0 ? prefix.TrimEnd('.') : $"{BlockOf(names[0])} … {BlockOf(names[^1])}";

    // The legend repeats neither the panel's prefix nor the ".weight(s)" every parameter ends with.
    private static string ShortName(string name, string prefix)
    {
        var s = prefix.Length > 0 && name.StartsWith(prefix, StringComparison.Ordinal) && name.Length > prefix.Length ? name[prefix.Length..] : name;
        foreach (var suffix in new[] { ".weights", ".weight" })
            if (s.EndsWith(suffix, StringComparison.Ordinal) && s.Length > suffix.Length) return s[..^suffix.Length];
        return s;
    }
}
