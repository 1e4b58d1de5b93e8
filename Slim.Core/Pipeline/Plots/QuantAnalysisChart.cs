using System.Globalization;
using ScottPlot;
using Slim.Compression.Quantization;

namespace Slim.Pipeline.Plots;

/// <summary>
/// The quantization analysis as horizontal bars: the loss of each layer quantized alone, most costly at the top (at
/// most <see cref="MaxBars"/>), with the loss of the whole int8 model as a dashed line for scale.
/// </summary>
public static class QuantAnalysisChart
{
    public const int MaxBars = 25;

    /// <summary>Renders the chart to PNG bytes.</summary>
    public static byte[] RenderPng(QuantAnalysisResult result, string metricName)
    {
        PlotStyle.ChooseFont();
        var shown = result.Layers.Take(MaxBars).ToList();
        var plot = new Plot();
        var bars = shown.Select((l, i) => new Bar
        {
            Position = shown.Count - 1 - i,
            Value = l.Loss * 100,
            FillColor = l.Loss > 0 ? PlotStyle.Colors[3] : PlotStyle.Colors[2],
            Orientation = Orientation.Horizontal,
        }).ToList();
        plot.Add.Bars(bars);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < shown.Count; i++) ticks.AddMajor(shown.Count - 1 - i, shown[i].Layer);
        plot.Axes.Left.TickGenerator = ticks;
        double all = (result.FloatMetric - result.Int8Metric) * 100;
        var line = plot.Add.VerticalLine(all, 1.5f, Colors.Gray, LinePattern.Dashed);
        line.LegendText = string.Create(CultureInfo.InvariantCulture, $"every layer int8: {all:F2} pts");
        plot.ShowLegend(Edge.Bottom);
        plot.Title(string.Create(CultureInfo.InvariantCulture,
            $"{metricName} lost by each layer quantized alone (float {result.FloatMetric * 100:F2} %){(result.Layers.Count > shown.Count ? $", top {shown.Count} of {result.Layers.Count}" : "")}"), 12);
        plot.XLabel("loss (pts)", 11);
        return plot.GetImageBytes(900, 120 + 22 * Math.Max(4, shown.Count), ImageFormat.Png);
    }

    /// <summary>Renders and writes the PNG atomically.</summary>
    public static void Save(QuantAnalysisResult result, string metricName, string path) => AtomicFile.WriteAllBytes(path, RenderPng(result, metricName));
}
