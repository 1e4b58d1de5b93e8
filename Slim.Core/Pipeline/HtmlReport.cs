using System.Net;
using System.Text;

namespace Slim.Pipeline;

/// <summary>A figure of a run: what it shows and its PNG, relative to the run folder.</summary>
public sealed record ReportFigure(string Title, string RelativePath)
{
    /// <summary>The figures a run folder holds, in stage order: each stage's sensitivity chart and training curves.</summary>
    public static IReadOnlyList<ReportFigure> Find(string runDir)
    {
        var stages = Path.Combine(runDir, "stages");
        if (!Directory.Exists(stages)) return [];
        var names = new[] { PruneSensitivity.PngName, Plots.TrainingCurve.FileName };
        return Directory.EnumerateFiles(stages, "*.png", SearchOption.AllDirectories)
            .Where(f => names.Contains(Path.GetFileName(f)))
            .Select(f => Path.GetRelativePath(runDir, f).Replace('\\', '/'))
            .OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => new ReportFigure(TitleOf(f), f))
            .ToList();
    }

    // "stages/01_prune/sensitivity.png" → "01_prune: sensitivity"; "stages/02_quant/qat/training.png" → "02_quant (qat): training curve".
    private static string TitleOf(string relative)
    {
        var parts = relative.Split('/');
        var what = Path.GetFileName(relative) == PruneSensitivity.PngName ? "sensitivity of each pruned layer" : "training curve";
        var where = parts.Length > 3 ? $"{parts[1]} ({string.Join("/", parts[2..^1])})" : parts[1];
        return $"{where}: {what}";
    }
}

/// <summary>
/// report.html: the run's report in one self-contained file (styles inline, figures embedded as PNG data URIs, no
/// script, nothing fetched), so it opens offline in any browser and travels as one attachment.
/// </summary>
public static class HtmlReport
{
    public const string FileName = "report.html";

    public static string Render(RunReport report, IReadOnlyList<ReportFigure> figures, string runDir)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        sb.AppendLine("<!DOCTYPE html>");
        sb.AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.AppendLine($"<title>{E(report.Name)} — Slim report</title>");
        sb.AppendLine("""
            <style>
            body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em; color: #222; background: #fff; }
            h1 { font-size: 1.6em; margin-bottom: 0.2em; }
            p.note { color: #555; margin-top: 0; }
            table { border-collapse: collapse; margin: 1em 0; }
            th, td { border: 1px solid #bbb; padding: 0.35em 0.7em; }
            th { background: #eef2f7; text-align: left; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
            tr:nth-child(even) td { background: #fafafa; }
            figure { margin: 1.5em 0; }
            figure img { max-width: 100%; border: 1px solid #ddd; }
            figcaption { color: #555; font-size: 0.9em; margin-top: 0.3em; }
            li.fallback { color: #a33; }
            </style>
            """);
        sb.AppendLine("</head><body>");
        sb.AppendLine($"<h1>{E(report.Name)}</h1>");
        sb.AppendLine($"<p class=\"note\">{E(report.Caption)}</p>");
        sb.AppendLine("<table id=\"stages\"><thead><tr>");
        foreach (var h in report.Header) sb.Append($"<th>{E(h)}</th>");
        sb.AppendLine("</tr></thead><tbody>");
        foreach (var row in report.Cells())
        {
            sb.Append("<tr>");
            for (int i = 0; i < row.Length; i++) sb.Append(i < 2 ? $"<td>{E(row[i])}</td>" : $"<td class=\"num\">{E(row[i])}</td>");
            sb.AppendLine("</tr>");
        }
        sb.AppendLine("</tbody></table>");
        if (report.Int8Deployment is { } d)
        {
            sb.AppendLine("<h2>INT8 in ONNX Runtime</h2>");
            sb.AppendLine($"<p>{E(d.Summary)}.</p>");
            if (d.FloatFallbacks.Count > 0)
            {
                sb.AppendLine("<ul>");
                foreach (var l in d.FloatFallbacks) sb.AppendLine($"<li class=\"fallback\">{E(l.ModulePath)} runs in float ({E(l.RunsAs ?? "")}): {E(l.Reason ?? "")}</li>");
                sb.AppendLine("</ul>");
            }
        }
        if (figures.Count > 0)
        {
            sb.AppendLine("<h2>Figures</h2>");
            foreach (var f in figures)
            {
                var bytes = File.ReadAllBytes(Path.Combine(runDir, f.RelativePath));
                sb.AppendLine($"<figure><img alt=\"{E(f.Title)}\" src=\"data:image/png;base64,{Convert.ToBase64String(bytes)}\">");
                sb.AppendLine($"<figcaption>{E(f.Title)} ({E(f.RelativePath)})</figcaption></figure>");
            }
        }
        sb.AppendLine("</body></html>");
        return sb.ToString();
    }
}
