using ScottPlot;
using Slim.Training;

namespace Slim.Pipeline.Plots;

/// <summary>
/// A run's training curve: the loss of every iteration (faint) with its moving average, and below it the
/// evaluation score in % at each evaluation (a single point when the run evaluated only at its end).
/// </summary>
public static class TrainingCurve
{
    public const string FileName = "training.png";
    public const int Width = 900, PanelHeight = 300;

    /// <summary>Figure size: one panel for the loss, a second when the run evaluated.</summary>
    public static (int Width, int Height) Size(TrainHistory history) => (Width, history.Evals.Count > 0 ? 2 * PanelHeight : PanelHeight);

    public static byte[] RenderPng(TrainHistory history, string title, string metricName)
    {
        if (history.Iteration.Count == 0) throw new SlimException("the training history has no iterations to draw");
        PlotStyle.ChooseFont();
        var (width, height) = Size(history);
        var multiplot = new Multiplot();
        multiplot.AddPlots(history.Evals.Count > 0 ? 2 : 1);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Rows();
        var xs = history.Iteration.Select(i => (double)i).ToArray();
        double xmax = xs.Max();

        var loss = multiplot.GetPlot(0);
        var raw = loss.Add.ScatterLine(xs, history.Loss.ToArray(), PlotStyle.Colors[0].WithAlpha(0.25));
        raw.LegendText = "loss";
        var smooth = loss.Add.ScatterLine(xs, MovingAverage(history.Loss, Math.Max(1, xs.Length / 50)), PlotStyle.Colors[0]);
        smooth.LineWidth = 2;
        smooth.LegendText = $"moving average ({Math.Max(1, xs.Length / 50)} it)";
        loss.Title(title, 12);
        loss.YLabel("training loss", 11);
        loss.XLabel("iteration", 11);
        // The first iterations of a fresh model can lose 100× more than the rest: the y range follows the bulk
        // of the run (up to its 98th percentile) so that the curve that matters is not a flat line.
        var sorted = history.Loss.Where(double.IsFinite).Order().ToList();
        double top = sorted[(int)Math.Floor(0.98 * (sorted.Count - 1))], bottom = Math.Min(0, sorted[0]);
        loss.Axes.SetLimits(0, xmax, bottom, top * 1.15 + 1e-9);
        loss.ShowLegend(Alignment.UpperRight);

        if (history.Evals.Count > 0)
        {
            var eval = multiplot.GetPlot(1);
            var scores = eval.Add.Scatter(history.Evals.Select(e => (double)e.Iteration).ToArray(), history.Evals.Select(e => e.Metric * 100).ToArray(), PlotStyle.Colors[1]);
            scores.MarkerShape = MarkerShape.FilledCircle;
            scores.MarkerSize = 8;
            scores.LegendText = metricName;
            var best = history.Evals.MaxBy(e => e.Metric)!;
            var label = eval.Add.Text($"best {best.Metric * 100:F2} % at {best.Iteration}", best.Iteration, best.Metric * 100);
            label.LabelFontSize = 11;
            label.LabelAlignment = best.Iteration > xmax / 2 ? Alignment.LowerRight : Alignment.LowerLeft;
            eval.YLabel($"{metricName} (%)", 11);
            eval.XLabel("iteration", 11);
            double lo = history.Evals.Min(e => e.Metric) * 100, hi = history.Evals.Max(e => e.Metric) * 100;
            double pad = Math.Max(1, (hi - lo) * 0.15);
            eval.Axes.SetLimits(0, xmax, Math.Max(0, lo - pad), hi + pad);
        }
        return multiplot.Render(width, height).GetImageBytes(ImageFormat.Png);
    }

    /// <summary>Draws the history of <paramref name="checkpointDir"/> next to its checkpoints; returns the PNG's path,
    /// or null when the folder holds no history.</summary>
    public static string? Save(string checkpointDir, string title, string metricName)
    {
        var historyPath = Path.Combine(checkpointDir, TrainHistory.FileName);
        if (!File.Exists(historyPath)) return null;
        var history = TrainHistory.Load(historyPath);
        if (history.Iteration.Count == 0) return null;
        var path = Path.Combine(checkpointDir, FileName);
        AtomicFile.WriteAllBytes(path, RenderPng(history, title, metricName));
        return path;
    }

    private static double[] MovingAverage(IReadOnlyList<double> values, int window)
    {
        var result = new double[values.Count];
        double sum = 0;
        for (int i = 0; i < values.Count; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            result[i] = sum / Math.Min(i + 1, window);
        }
        return result;
    }
}
