using System.Globalization;
using System.Text.Json;
using Slim.Compression.Quantization;
using Slim.Recipes;
using Slim.Tasks;

namespace Slim.Pipeline;

/// <summary>What the INT8 fallback did: every try, the layers kept in float, and whether the kept model passed.</summary>
public sealed record QuantFallbackOutcome(ExportOutcome Exported, VerifyOutcome Verified, FallbackResult Fallback);

/// <summary>
/// <c>verify.baseline.on_fail: fallback</c>: when the INT8 model drops more than max_drop in ONNX Runtime, the quantized
/// layers are ranked by what each costs alone (<see cref="QuantAnalysisStage"/> on the quant stage's float input; a
/// post-training calibration with the stage's algorithm, also for an aware stage, whose thresholds it approximates),
/// and the most costly are kept in float, one more at a time, each try exported from the quant stage's twin and scored
/// in ONNX Runtime, until one passes or <c>max_fallback_layers</c> are float. The kept model (the first that passed,
/// else the best) is exported again as the run's INT8 model and verified; every try is in
/// <c>verify/quant_fallback.json</c>.
/// </summary>
public static class QuantFallbackStage
{
    public const string FileName = "quant_fallback.json";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <param name="exportCtx">The export stage's context (its folder receives the kept INT8 model).</param>
    /// <param name="verifyCtx">The verify stage's context (the analysis, the tries and the new verification go there).</param>
    /// <param name="floatCheckpoint">The quant stage's float input (ranked by the analysis; also the FP32 export).</param>
    /// <param name="twin">The quant stage's float twin, which the INT8 exports are written from.</param>
    /// <param name="quant">The quant stage's records.</param>
    /// <param name="section">The quant stage's section (algorithm, calibration, not_quant).</param>
    /// <param name="baselineAp">The run's trained baseline score (verify.baseline.ap overrides it).</param>
    public static QuantFallbackOutcome Run(StageContext exportCtx, StageContext verifyCtx, string floatCheckpoint, string twin,
        QuantizationResult quant, QuantSection section, double baselineAp)
    {
        var recipe = verifyCtx.Recipe;
        var v = recipe.Verify;
        double baseline = v.Baseline.Ap ?? baselineAp;
        var inv = CultureInfo.InvariantCulture;
        var say = verifyCtx.Progress.Info;
        var metric = verifyCtx.Task.MetricName;
        say(string.Create(inv, $"fallback: the INT8 model drops more than {v.Baseline.MaxDrop * 100:F2} pts; ranking its layers by what each costs alone"));

        var analysisSection = new QuantSection
        {
            Mode = QuantMode.Post,
            Algo = section.Algo,
            CalibrationBatches = section.CalibrationBatches,
            Percentile = section.Percentile,
            NotQuant = section.NotQuant,
            QuantOutput = section.QuantOutput,
            WeightBits = section.WeightBits,
        };
        var analysis = QuantAnalysisStage.Run(verifyCtx with { StageDir = Path.Combine(verifyCtx.StageDir, "quant_analysis") }, floatCheckpoint, analysisSection);
        var ranking = analysis.Layers.Select(l => l.Layer).Where(p => quant.Find(p) is not null).ToList();

        var info = ExportStage.Info(verifyCtx);
        var tries = Path.Combine(verifyCtx.StageDir, "fallback");
        Directory.CreateDirectory(tries);
        var result = QuantFallback.Run(ranking,
            floats =>
            {
                var path = Path.Combine(tries, string.Create(inv, $"model_int8_float{floats.Count}.onnx"));
                ExportStage.ExportCheckpoint(twin, path, info, quant.WithFloat(floats), recipe.Export, verifyCtx.Task.Family);
                return verifyCtx.Task.EvaluateOnnx(path, v.Threads).Primary;
            },
            m => baseline - m <= v.Baseline.MaxDrop + 1e-9,
            v.Baseline.MaxFallbackLayers,
            step => say(string.Create(inv,
                $"fallback: {step.FloatLayers.Count} layer(s) in float (+{step.FloatLayers[^1]}): INT8 {metric} {step.Metric * 100:F2} % in ONNX Runtime, drop {(baseline - step.Metric) * 100:F2} pts: {(step.Passed ? "pass" : "not yet")}")),
            verifyCtx.Cancel);
        AtomicFile.WriteAllText(Path.Combine(verifyCtx.StageDir, FileName), JsonSerializer.Serialize(new
        {
            metric,
            baseline,
            max_drop = v.Baseline.MaxDrop,
            passed = result.Passed,
            kept_float = result.Kept.FloatLayers,
            steps = result.Steps,
        }, Json));
        say(result.Passed
            ? $"fallback: passes with {result.Kept.FloatLayers.Count} layer(s) in float: {string.Join(", ", result.Kept.FloatLayers)}"
            : $"fallback: no try passed within {v.Baseline.MaxFallbackLayers} layer(s) in float; keeping the best: {string.Join(", ", result.Kept.FloatLayers)}");

        var exported = ExportStage.Run(exportCtx, floatCheckpoint, twin, quant.WithFloat(result.Kept.FloatLayers), recipe.Export);
        var verified = VerifyStage.Run(verifyCtx, exported, v, baselineAp);
        return new QuantFallbackOutcome(exported, verified, result);
    }
}
