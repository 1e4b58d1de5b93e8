using System.Globalization;
using Slim.Export;
using Slim.Recipes;
using Slim.Tasks;
using static Slim.Torch.torch;

namespace Slim.Pipeline;

/// <summary>
/// The verify stage: each exported model's metric (the task's: AP, top-1 …) in ONNX Runtime on the validation images, its latency
/// (batch 1, median after warm-up, at the section's thread count) and size, compared with the baseline
/// AP. Writes verify.json into the stage folder and returns the outcome; it does not throw on a failed
/// check (see <see cref="VerifyOutcome.ThrowIfFailed"/>). The caller decides whether to run it at all
/// (<see cref="VerifySection.Enabled"/>).
/// </summary>
public static class VerifyStage
{
    /// <summary>File name of the written outcome in the stage folder.</summary>
    public const string ResultFileName = "verify.json";

    /// <summary>Refuses a model file that is not ONNX, or whose image input is not the recipe's [N, C, H, W].</summary>
    public static void RequireInputFits(string precision, string path, long[] recipeInput)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"verify: the {precision} model {path} does not exist", path);
        var model = OnnxExporter.Load(path);
        var initializers = model.Graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        // Slim's exports name the image input "images"; another tool's file may order its inputs otherwise.
        var input = inputs.FirstOrDefault(i => i.Name == "images") ?? inputs.FirstOrDefault()
            ?? throw new InvalidDataException($"{path}: the ONNX graph has no input; give a .onnx file written by slim export");
        var shape = input.Type?.TensorType?.Shape;
        if (shape is null || shape.Dim.Count == 0) return; // no shape recorded: ONNX Runtime will say
        var dims = shape.Dim.Select(d => d.HasDimValue ? d.DimValue : -1).ToArray();
        bool fits = dims.Length == recipeInput.Length && dims.Zip(recipeInput).Skip(1).All(p => p.First < 0 || p.First == p.Second);
        if (!fits)
            throw new SlimException($"{path}: the {precision} model takes input [{Shape(dims)}] but the recipe gives [{Shape(recipeInput)}]; " +
                "verify it with the recipe it was exported with, or export it again with this one");
    }

    private static string Shape(IEnumerable<long> dims) => string.Join(", ", dims.Select((d, i) => i == 0 || d < 0 ? "N" : d.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Verifies the exported models.</summary>
    /// <param name="ctx">The run (task, stage folder, progress).</param>
    /// <param name="exported">The models to check.</param>
    /// <param name="section">Threads, runs and the baseline; <c>baseline.ap</c> overrides <paramref name="baselineAp"/>.</param>
    /// <param name="baselineAp">The AP of this run's trained baseline (0-1).</param>
    public static VerifyOutcome Run(StageContext ctx, ExportOutcome exported, VerifySection section, double baselineAp)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(exported);
        ArgumentNullException.ThrowIfNull(section);
        double baseline = section.Baseline.Ap ?? baselineAp;
        if (!(baseline >= 0 && baseline <= 1))
            throw new SlimException($"verify: the baseline AP is {baseline}; expected a value in [0, 1] (verify.baseline.ap or the trained baseline's AP)");
        double maxDrop = section.Baseline.MaxDrop;
        var models = exported.Models().ToList();
        if (models.Count == 0) throw new SlimException("verify: the export produced no model to verify");

        var runner = OrtRunner.Create();
        using var sampleScope = NewDisposeScope();
        var sampleImage = ctx.Task.SampleInput();
        // Every model read and fitted to the recipe's input before any is scored: a bad INT8 file is not found after the
        // FP32 model's evaluation, nor a model of another input size by ONNX Runtime's dimension error.
        foreach (var (precision, path, _) in models) RequireInputFits(precision, path, sampleImage.shape);

        var results = new List<VerifiedModel>();
        foreach (var (precision, path, _) in models)
        {
            ctx.Cancel.ThrowIfCancellationRequested();
            if (!File.Exists(path)) throw new FileNotFoundException($"verify: the {precision} model {path} does not exist", path);
            var score = ctx.Task.EvaluateOnnx(path, section.Threads);
            ctx.Cancel.ThrowIfCancellationRequested();
            var sample = ctx.Task.OnnxInputs(path, sampleImage);
            var latency = runner.MeasureLatency(path, sample, section.Threads, section.WarmupRuns, section.LatencyRuns);
            double drop = baseline - score.Primary;
            // A drop equal to the tolerance passes; the epsilon absorbs the rounding of AP sums.
            bool passed = drop <= maxDrop + 1e-9;
            var m = new VerifiedModel(precision, path, score.Primary, drop, latency.MedianMs, new FileInfo(path).Length, passed)
            {
                LatencyP10Ms = latency.P10Ms,
                LatencyP90Ms = latency.P90Ms,
            };
            results.Add(m);
            ctx.Progress.Info(string.Create(CultureInfo.InvariantCulture,
                $"verify {precision}: {ctx.Task.MetricName} {m.Ap * 100:F2} % (baseline {baseline * 100:F2} %, drop {drop * 100:F2} pts, max {maxDrop * 100:F2} pts) " +
                $"latency {m.LatencyText} (batch 1, {section.Threads} thread(s), {section.LatencyRuns} runs after {section.WarmupRuns} warm-up) size {m.SizeBytes / (1024.0 * 1024.0):F2} MiB: {(passed ? "pass" : "FAIL")}"));
        }
        Int8DeploymentReport? deployment = null;
        if (exported.Int8Path is { } int8Path)
        {
            // The export of this run said it already; a model exported elsewhere is read here.
            deployment = exported.Int8Deployment ?? ExportStage.Deployment(int8Path, ctx.StageDir, ctx.Progress.Info, "verify");
        }
        var outcome = new VerifyOutcome
        {
            Int8Deployment = deployment,
            RequireInt8 = section.RequireInt8,
            Metric = ctx.Task.MetricName,
            BaselineAp = baseline,
            MaxDrop = maxDrop,
            Threads = section.Threads,
            WarmupRuns = section.WarmupRuns,
            LatencyRuns = section.LatencyRuns,
            ValImages = ctx.Task.ValImageCount,
            Models = results,
        };
        AtomicFile.WriteAllText(Path.Combine(ctx.StageDir, ResultFileName), outcome.ToJson());
        return outcome;
    }
}
