using System.Globalization;
using Slim.Compression.Pruning.Plot;

namespace Slim.Compression.Pruning.Sensitivity;

/// <summary>Draws sensitivity curves to a PNG: x = pruned ratio, y = metric loss (%), one coloured curve per parameter.</summary>
public static class SensitivityPlot
{
    /// <summary>Curve colours, in parameter order (repeating).</summary>
    public static readonly (byte r, byte g, byte b)[] Palette =
    {
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    };

    private static readonly (byte, byte, byte) White = (255, 255, 255), Black = (0, 0, 0), Grid = (225, 225, 225);

    public static Canvas Render(SensitivityResult result, int width = 800, int height = 500)
    {
        var ci = CultureInfo.InvariantCulture;
        var c = new Canvas(width, height, White);
        int left = 70, right = 20, top = 34, bottom = 50;
        int pw = width - left - right, ph = height - top - bottom;
        var losses = result.Points.Select(p => p.Loss * 100).Append(0).ToList();
        double ymin = Math.Min(0, losses.Min()), ymax = Math.Max(losses.Max(), ymin + 1);
        double ystep = NiceStep((ymax - ymin) / 5);
        ymin = Math.Floor(ymin / ystep) * ystep;
        ymax = Math.Ceiling(ymax / ystep) * ystep;
        int X(double r) => left + (int)Math.Round(r * pw);
        int Y(double l) => top + ph - (int)Math.Round((l - ymin) / (ymax - ymin) * ph);

        for (int i = 0; i <= 10; i++)
        {
            int x = X(i / 10.0);
            c.Line(x, top, x, top + ph, Grid);
            var label = (i / 10.0).ToString("0.0", ci);
            c.Text(x - Canvas.TextWidth(label) / 2, top + ph + 6, label, Black);
        }
        for (double v = ymin; v <= ymax + ystep / 2; v += ystep)
        {
            int y = Y(v);
            c.Line(left, y, left + pw, y, Grid);
            var label = v.ToString(ystep < 1 ? "0.0" : "0", ci) + "%";
            c.Text(left - 6 - Canvas.TextWidth(label), y - 3, label, Black);
        }
        c.Line(left, top, left, top + ph, Black);
        c.Line(left, top + ph, left + pw, top + ph, Black);
        c.Line(left, Y(0), left + pw, Y(0), (120, 120, 120));

        var title = $"sensitivity ({result.Criterion})";
        c.Text((width - Canvas.TextWidth(title, 2)) / 2, 8, title, Black, 2);
        const string xLabel = "pruned ratio";
        c.Text(left + (pw - Canvas.TextWidth(xLabel)) / 2, height - 18, xLabel, Black);
        const string yLabel = "metric loss (%)";
        c.TextVertical(8, top + (ph - Canvas.TextWidth(yLabel)) / 2, yLabel, Black);

        var parameters = result.Parameters;
        for (int k = 0; k < parameters.Count; k++)
        {
            var colour = Palette[k % Palette.Length];
            var pts = result.Curve(parameters[k]).Select(p => (X(p.Ratio), Y(p.Loss * 100))).Prepend((X(0), Y(0))).ToList();
            for (int i = 1; i < pts.Count; i++) c.Line(pts[i - 1].Item1, pts[i - 1].Item2, pts[i].Item1, pts[i].Item2, colour, 2);
            foreach (var (x, y) in pts.Skip(1)) c.FillRect(x - 2, y - 2, 5, 5, colour);
        }
        // Legend, top left inside the plot (losses grow with the ratio, so that corner stays clear).
        int lx = left + 10, ly = top + 8, rowH = 12;
        int lw = parameters.Count == 0 ? 0 : parameters.Max(p => Canvas.TextWidth(p)) + 30;
        c.FillRect(lx - 4, ly - 4, lw + 8, parameters.Count * rowH + 6, White);
        for (int k = 0; k < parameters.Count; k++)
        {
            var colour = Palette[k % Palette.Length];
            c.Line(lx, ly + k * rowH + 3, lx + 18, ly + k * rowH + 3, colour, 2);
            c.Text(lx + 24, ly + k * rowH, parameters[k], Black);
        }
        return c;
    }

    /// <summary>Renders and writes the PNG atomically.</summary>
    public static void Save(SensitivityResult result, string path, int width = 800, int height = 500)
    {
        AtomicFile.WriteAllBytes(path, Render(result, width, height).ToPng());
    }

    private static double NiceStep(double raw)
    {
        if (raw <= 0) return 1;
        double p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double f = raw / p;
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
    }
}
