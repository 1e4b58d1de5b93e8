using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace Slim.Pipeline;

/// <summary>The verification of one exported model in ONNX Runtime.</summary>
/// <param name="Precision">"fp32" or "int8".</param>
/// <param name="Path">The .onnx file.</param>
/// <param name="Ap">AP in ONNX Runtime on the validation images (the recipe's metric, 0-1).</param>
/// <param name="Drop">Baseline AP minus <paramref name="Ap"/> (negative when the model is better).</param>
/// <param name="LatencyMs">Median ONNX Runtime latency, batch 1, in milliseconds.</param>
/// <param name="SizeBytes">File size.</param>
/// <param name="Passed">Whether the drop is within the tolerance.</param>
public sealed record VerifiedModel(string Precision, string Path, double Ap, double Drop, double LatencyMs, long SizeBytes, bool Passed)
{
    /// <summary>10th percentile of the timed runs, in milliseconds (the spread's lower end).</summary>
    public double? LatencyP10Ms { get; init; }
    /// <summary>90th percentile of the timed runs, in milliseconds.</summary>
    public double? LatencyP90Ms { get; init; }

    /// <summary>"1.13 ms (p10–p90 1.08–1.25)": the median and the spread a second measurement may land in.</summary>
    public string LatencyText => LatencyFormat.Cell(LatencyMs, LatencyP10Ms, LatencyP90Ms) + " ms";
}

/// <summary>How Slim writes a latency: the median, and the 10th–90th percentile range of the runs when known.</summary>
public static class LatencyFormat
{
    public static string Cell(double? median, double? p10, double? p90) => median is not double m ? "—"
        : p10 is double lo && p90 is double hi
            ? string.Create(CultureInfo.InvariantCulture, $"{m:F2} ({lo:F2}–{hi:F2})")
            : m.ToString("F2", CultureInfo.InvariantCulture);
}

/// <summary>
/// What the verify stage measured: each exported model's AP, drop from the baseline, latency and size,
/// and whether every drop stays within <see cref="MaxDrop"/>. The stage only reports; the caller throws
/// (<see cref="ThrowIfFailed"/>) after writing its results, so a failed check still leaves them on disk.
/// </summary>
public sealed record VerifyOutcome
{
    /// <summary>The metric's name ("VOC mAP@0.5").</summary>
    public required string Metric { get; init; }
    /// <summary>The AP compared with (0-1).</summary>
    public required double BaselineAp { get; init; }
    /// <summary>The largest accepted drop (absolute AP, 0-1).</summary>
    public required double MaxDrop { get; init; }
    /// <summary>ONNX Runtime intra-op threads used for AP and latency.</summary>
    public required int Threads { get; init; }
    /// <summary>Untimed warm-up runs before the latency runs.</summary>
    public required int WarmupRuns { get; init; }
    /// <summary>Timed runs the median latency is taken over.</summary>
    public required int LatencyRuns { get; init; }
    /// <summary>Validation images the AP was measured on.</summary>
    public required int ValImages { get; init; }
    /// <summary>The models checked, fp32 first.</summary>
    public required IReadOnlyList<VerifiedModel> Models { get; init; }

    /// <summary>How ONNX Runtime runs the INT8 model's quantized layers (null without an INT8 model).</summary>
    public Slim.Export.Int8DeploymentReport? Int8Deployment { get; init; }
    /// <summary>Whether a quantized layer running in float fails the verification (verify.require_int8).</summary>
    public bool RequireInt8 { get; init; }
    /// <summary>True when every model's drop is within <see cref="MaxDrop"/> and, with <see cref="RequireInt8"/>, every quantized layer runs in int8.</summary>
    public bool Passed => Models.All(m => m.Passed) && !Int8Failed;
    private bool Int8Failed => RequireInt8 && Int8Deployment is { FloatFallbacks.Count: > 0 };

    /// <summary>The model of a precision ("fp32", "int8"), or null.</summary>
    public VerifiedModel? Find(string precision) => Models.FirstOrDefault(m => m.Precision == precision);

    /// <summary>One line naming each model whose drop exceeds the tolerance; empty when all passed.</summary>
    public string FailureMessage => string.Join("; ", Models.Where(m => !m.Passed).Select(m => string.Create(CultureInfo.InvariantCulture,
        $"{m.Precision} model {System.IO.Path.GetFileName(m.Path)}: {Metric} {m.Ap * 100:F2} % is {m.Drop * 100:F2} pts below the baseline {BaselineAp * 100:F2} %, more than the accepted {MaxDrop * 100:F2} pts (verify.baseline.max_drop)"))
        .Concat(Int8Failed ? new[] { $"{Int8Deployment!.FloatFallbacks.Count} quantized layer(s) run in float in ONNX Runtime ({string.Join(", ", Int8Deployment.FloatFallbacks.Select(l => l.ModulePath))}) and verify.require_int8 is true" } : Array.Empty<string>()));

    /// <summary>Throws <see cref="VerificationFailedException"/> (exit code VerificationFailed) when a model failed.</summary>
    public void ThrowIfFailed()
    {
        if (!Passed) throw new VerificationFailedException("verification failed: " + FailureMessage);
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>The outcome as JSON (snake_case keys, "passed" included).</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        Metric, BaselineAp, MaxDrop, Threads, WarmupRuns, LatencyRuns, ValImages, Passed, Models, RequireInt8, Int8Deployment,
    }, Json);

    /// <summary>A table of the models: the metric (AP or top-1), drop, latency, size and the verdict.</summary>
    public Table ToTable()
    {
        static string F(double v, string fmt) => v.ToString(fmt, CultureInfo.InvariantCulture);
        var t = new Table().Title(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"ONNX Runtime verification — {Metric} vs baseline {BaselineAp * 100:F2} %, max drop {MaxDrop * 100:F2} pts; latency batch 1, {Threads} thread(s), {LatencyRuns} runs after {WarmupRuns} warm-up")));
        foreach (var h in new[] { "model", "file", $"{RunReport.ShortMetric(Metric)} (%)", "drop (pts)", "latency ms: median (p10–p90)", "size (MiB)", "result" })
            t.AddColumn(new TableColumn(h).RightAligned());
        foreach (var m in Models)
            t.AddRow(Markup.Escape(m.Precision), Markup.Escape(System.IO.Path.GetFileName(m.Path)), F(m.Ap * 100, "F2"), F(m.Drop * 100, "F2"),
                LatencyFormat.Cell(m.LatencyMs, m.LatencyP10Ms, m.LatencyP90Ms), F(m.SizeBytes / (1024.0 * 1024.0), "F2"), m.Passed ? "[green]pass[/]" : "[red]FAIL[/]");
        return t.FitTitle();
    }
}
