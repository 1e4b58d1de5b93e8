using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace Slim.Pipeline;

/// <summary>One row of the model-zoo style report: what a stage produced and how it measures.</summary>
public sealed record StageReport
{
    /// <summary>"baseline", "prune", "distill", "quant", "export" …</summary>
    public required string Stage { get; init; }
    /// <summary>What was done, e.g. "r578 l1_norm + fine-tune 300".</summary>
    public string Detail { get; init; } = "";
    public double? Gflops { get; init; }
    public long? Parameters { get; init; }
    public double? SizeMiB { get; init; }
    /// <summary>AP of the stage's model in libtorch (FP32 or fake-quantized).</summary>
    public double? Ap { get; init; }
    /// <summary>AP of the exported model in ONNX Runtime.</summary>
    public double? OrtAp { get; init; }
    /// <summary>ONNX Runtime median latency in milliseconds (batch 1).</summary>
    public double? LatencyMs { get; init; }
    /// <summary>10th and 90th percentiles of the timed runs, in milliseconds.</summary>
    public double? LatencyP10Ms { get; init; }
    public double? LatencyP90Ms { get; init; }
    public string? Checkpoint { get; init; }
    public string? Onnx { get; init; }
    public double? OnnxSizeMiB { get; init; }
    /// <summary>
    /// The stage's own figures by name, as its outcome gives them (a prune stage's ap_after_prune and
    /// ap_after_finetune, a distill stage's teacher_ap, …); finite values only; null when it gives none. Record
    /// equality compares this dictionary by reference: compare reports by their JSON (<see cref="RunReport.ToJson"/>).
    /// </summary>
    public IReadOnlyDictionary<string, double>? Figures { get; init; }
}

/// <summary>The report of a run: rows, the baseline they are compared with, and renderings.</summary>
public sealed record RunReport
{
    public required string Name { get; init; }
    public required string Metric { get; init; }
    public required IReadOnlyList<StageReport> Stages { get; init; }
    public int LatencyThreads { get; init; } = 1;
    /// <summary>Timed latency runs, and the untimed warm-up runs before them.</summary>
    public int LatencyRuns { get; init; }
    public int LatencyWarmup { get; init; }
    public string Device { get; init; } = "cpu";
    /// <summary>How ONNX Runtime runs the INT8 model's quantized layers (null without an INT8 export).</summary>
    public Slim.Export.Int8DeploymentReport? Int8Deployment { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public double? BaselineAp => Stages.FirstOrDefault(s => s.Stage == "baseline")?.Ap;

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static RunReport FromJson(string json) =>
        JsonSerializer.Deserialize<RunReport>(json, Json) ?? throw new InvalidDataException("empty report");

    private static string F(double? v, string fmt) => v is double d ? d.ToString(fmt, CultureInfo.InvariantCulture) : "—";

    private string Delta(StageReport s)
    {
        var ap = s.OrtAp ?? s.Ap;
        if (ap is null || BaselineAp is null || s.Stage == "baseline") return "—";
        var d = (ap.Value - BaselineAp.Value) * 100;
        return (d >= 0 ? "+" : "") + d.ToString("F2", CultureInfo.InvariantCulture);
    }

    private string Ratio(StageReport s, Func<StageReport, double?> f)
    {
        var b = Stages.FirstOrDefault(x => x.Stage == "baseline");
        if (b is null || f(b) is not double bv || f(s) is not double v || bv == 0 || s.Stage == "baseline") return "";
        var d = (v / bv - 1) * 100;
        return $" ({(d >= 0 ? "+" : "")}{d.ToString("F0", CultureInfo.InvariantCulture)}%)";
    }

    /// <summary>The metric's column name: "AP" for detection metrics, "top-1" for top-1 accuracy.</summary>
    internal static string ShortMetric(string metric) =>
        metric.StartsWith("top-1", StringComparison.Ordinal) ? "top-1" : metric.StartsWith("mIoU", StringComparison.Ordinal) ? "mIoU" : "AP";

    internal string[] Header => new[]
    {
        "stage", "detail", "GFLOPs", "params (M)", "size (MiB)", $"{ShortMetric(Metric)} libtorch (%)", $"{ShortMetric(Metric)} ORT (%)",
        $"Δ{ShortMetric(Metric)} (pts)", "latency ms: median (p10–p90)",
    };

    internal IEnumerable<string[]> Cells() => Stages.Select(s => new[]
    {
        s.Stage,
        s.Detail,
        (s.Gflops is double g ? Units.GflopsNumber(g) : "—") + Ratio(s, x => x.Gflops),
        F(s.Parameters / 1e6, "F3"),
        F(s.OnnxSizeMiB ?? s.SizeMiB, "F2") + Ratio(s, x => x.OnnxSizeMiB ?? x.SizeMiB),
        F(s.Ap * 100, "F2"),
        F(s.OrtAp * 100, "F2"),
        Delta(s),
        LatencyFormat.Cell(s.LatencyMs, s.LatencyP10Ms, s.LatencyP90Ms),
    });

    /// <summary>The line under the title: metric, latency conditions, device.</summary>
    internal string Caption => $"Metric: {Metric} (in %); latency: {LatencyNote}; device: {Device}.";

    /// <summary>The report as Markdown; <paramref name="figures"/> (paths relative to the run folder) are linked at the end.</summary>
    public string ToMarkdown(IReadOnlyList<ReportFigure>? figures = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# {Name}").AppendLine();
        sb.AppendLine(Caption).AppendLine();
        sb.AppendLine("| " + string.Join(" | ", Header) + " |");
        sb.AppendLine("|" + string.Concat(Enumerable.Repeat("---|", Header.Length)));
        foreach (var r in Cells()) sb.AppendLine("| " + string.Join(" | ", r) + " |");
        if (Int8Deployment is { } d)
        {
            sb.AppendLine().AppendLine($"INT8 in ONNX Runtime: {d.Summary}.");
            foreach (var l in d.FloatFallbacks) sb.AppendLine($"- {l.ModulePath} runs in float ({l.RunsAs}): {l.Reason}");
        }
        if (figures is { Count: > 0 })
        {
            sb.AppendLine().AppendLine($"Figures (all of them, with this table, in {HtmlReport.FileName}):");
            foreach (var f in figures) sb.AppendLine($"- [{f.Title}]({f.RelativePath})");
        }
        return sb.ToString();
    }

    private string LatencyNote => $"ONNX Runtime, batch 1, {LatencyThreads} thread(s)" + (LatencyRuns > 0 ? $", {LatencyRuns} runs after {LatencyWarmup} warm-up" : "");

    public Table ToTable()
    {
        var t = new Table().Title($"[bold]{Markup.Escape(Name)}[/] — {Markup.Escape(Metric)}; latency: {Markup.Escape(LatencyNote)}");
        // Words left, numbers right.
        foreach (var (h, i) in Header.Select((h, i) => (h, i)))
        {
            var column = new TableColumn(Markup.Escape(h));
            t.AddColumn(i < 2 ? column.LeftAligned() : column.RightAligned());
        }
        foreach (var r in Cells()) t.AddRow(r.Select(Markup.Escape).ToArray());
        return t.FitTitle();
    }
}
