using System.Globalization;
using System.Text;
using Slim.Compression.Quantization;
using Slim.Data;
using Slim.Models;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Torch;
using Slim.Training;
using static Slim.Torch.torch;

namespace Slim.Pipeline;

/// <summary>
/// The quant stage: INT8 quantization of the previous stage's model (any family), aware (fake-quantized
/// fine-tuning with the trainer, BN statistics frozen part-way) or post-training (calibration on
/// training images in evaluation transforms). It writes <c>quant.json</c> (the scales, see
/// <see cref="QuantFile"/>) and a float twin checkpoint (<see cref="QuantTwin"/>) that, exported
/// with the scales as QDQ pairs, is the fake-quantized model.
/// </summary>
public static class QuantStage
{
    /// <summary>The quantization parameters file in the stage folder.</summary>
    public const string QuantFileName = "quant.json";

    /// <summary>The float twin checkpoint in the stage folder.</summary>
    public const string TwinFileName = "twin.ckpt";

    /// <summary>Runs the stage on input.Checkpoint and writes quant.json and the twin into ctx.StageDir.</summary>
    public static StageOutcome Run(StageContext ctx, StageInput input, QuantSection section)
    {
        using var run = Quantize(ctx, input.Checkpoint, section);
        Directory.CreateDirectory(ctx.StageDir);
        var twinPath = Path.Combine(ctx.StageDir, TwinFileName);
        var quantPath = Path.Combine(ctx.StageDir, QuantFileName);
        using (var twin = QuantTwin.Build(ctx.Task.Family, run.Model, run.Result, run.Architecture, run.Options))
        {
            var meta = ctx.Task.Metadata(run.Architecture, run.Options);
            meta["quant.mode"] = RecipeBinder.EnumName(typeof(QuantMode), section.Mode);
            meta["quant.file"] = QuantFileName;
            Checkpoint.Save(twinPath, twin.state_dict(), meta);
        }
        QuantFile.Write(quantPath, run.Result, run.Plan, Options(section, ctx.Task.Family), twinPath);

        int quantized = run.Plan.Quantized.Count(), skipped = run.Plan.Layers.Count - quantized;
        foreach (var line in ReportLines(run.Plan)) ctx.Progress.Info(line);
        if (PointsLine(run.Plan) is { } points) ctx.Progress.Info(points);
        var inv = CultureInfo.InvariantCulture;
        ctx.Progress.Info(string.Create(inv,
            $"quant: {ctx.Task.MetricName} {run.ApBefore * 100:F2} % (float) → {run.ApAfter * 100:F2} % (int8 fake-quant); {quantized} layers int8, {skipped} float; wrote {quantPath} and {twinPath}"));
        return new StageOutcome
        {
            Stage = "quant",
            Detail = Detail(section, quantized, run.Plan.Layers.Count),
            Checkpoint = twinPath,
            Ap = run.ApAfter,
            QuantizationFile = quantPath,
            Extra = new Dictionary<string, double>
            {
                ["ap_before"] = run.ApBefore,
                ["ap_after"] = run.ApAfter,
                ["quantized_layers"] = quantized,
                ["skipped_layers"] = skipped,
            },
        };
    }

    /// <summary>The algorithm options of a recipe's quant section (the mapping of the YAML onto the typed options lives here, not in the algorithm).</summary>
    public static QuantizationOptions Options(QuantSection section, TaskFamily family) => new()
    {
        OutputPatterns = family.OutputLayers,
        NotQuant = section.NotQuant.ToArray(),
        QuantOutput = section.QuantOutput,
        Algorithm = section.Algo,
        Percentile = section.Percentile,
        WeightBits = section.WeightBits,
    };

    /// <summary>
    /// Loads the float detector at checkpoint, quantizes it as section says and evaluates it
    /// before and after; writes nothing but the aware fine-tune's checkpoints (ctx.StageDir/qat).
    /// </summary>
    public static QuantRun Quantize(StageContext ctx, string checkpoint, QuantSection section)
    {
        var options = Options(section, ctx.Task.Family);
        options.Validate();
        if (section.Mode == QuantMode.Aware && section.FineTune.Iterations <= 0)
            throw new QuantizationException("quant.fine_tune.iterations is 0: aware quantization learns the input scales while training; give iterations (e.g. 200) or use mode post");
        var (model, arch, modelOptions) = LoadFloat(ctx, checkpoint);
        try
        {
            // Checked before the float evaluation, so a typo fails at once.
            LayerSelector.CheckPatterns(options.NotQuant, model.named_modules().Select(m => m.name).Where(n => n.Length > 0).ToList());
            model.eval();
            double before = ctx.Task.Evaluate(model).Primary;
            QuantizationPlan plan = section.Mode == QuantMode.Aware
                ? TrainAware(ctx, model, options, section)
                : Calibrate(ctx, model, options, section);
            var result = QuantizationResult.ToFakeQuant(model, section.Mode, section.Algo);
            double after = ctx.Task.Evaluate(model).Primary;
            return new QuantRun(model, arch, modelOptions, plan, result, section, before, after);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds the recipe's model with the checkpoint's channel counts (a pruned model keeps its
    /// own) and loads the checkpoint, failing with the differences named when it was written for
    /// another architecture, width or class count.
    /// </summary>
    private static (torch.nn.Module model, string architecture, ModelOptions options) LoadFloat(StageContext ctx, string checkpoint)
    {
        if (!File.Exists(checkpoint))
            throw new QuantizationException($"{checkpoint}: no such checkpoint; give the float model to quantize (e.g. the train or prune stage's checkpoint)");
        var meta = Checkpoint.ReadMetadata(checkpoint);
        string arch = ctx.Recipe.Model.Name;
        var options = ctx.Task.ModelOptions(ctx.Recipe.Model);
        if (meta.ContainsKey(ModelOptions.MetadataPrefix + "architecture"))
        {
            var (saved, savedOptions) = ModelOptions.FromMetadata(meta);
            if (saved != arch)
                throw new QuantizationException($"{checkpoint}: the checkpoint is a {saved} but the recipe's model is {arch}: give a checkpoint of the recipe's model (model.name) or change model.name");
            options = options with { ChannelOverrides = savedOptions.ChannelOverrides };
        }
        var model = ctx.Task.Family.CreateModel(arch, options);
        try
        {
            ArchitectureCheck.VerifyAndLoad(model, checkpoint);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return (model, arch, options);
    }

    private static QuantizationPlan TrainAware(StageContext ctx, torch.nn.Module model, QuantizationOptions options, QuantSection section)
    {
        QuantizationPlan plan;
        using (var sample = ctx.Task.SampleInput())
            plan = AwareQuantizer.Prepare(model, options, x => ctx.Task.Family.Forward(model, x), sample);
        int iterations = section.FineTune.Iterations;
        var settings = TrainSettings.From(ctx.Recipe.Train, section.FineTune) with
        {
            CheckpointInterval = Math.Max(10, iterations / 10),
        };
        long freezeAt = (long)Math.Round(section.FreezeBnAt * iterations);
        bool frozen = false;
        // The trainer calls back before every step (also the first of a resumed run), so the
        // freeze, which is not part of the saved state, is re-applied after a resume.
        void BeforeStep(long it)
        {
            if (frozen || it < freezeAt) return;
            int n = AwareQuantizer.FreezeBatchNorm(model);
            frozen = true;
            ctx.Progress.Info($"quant: batch-norm statistics of {n} quantized convs frozen at iteration {it}");
        }
        // The checkpoints hold the prepared (quantized-layer) model, not a registry model, so
        // they carry no model.* metadata: ModelCheckpoint.Load must not mistake them for one.
        var meta = new Dictionary<string, string> { ["quant.mode"] = "aware", ["quant.prepared"] = "true" };
        new Trainer(ctx.Progress, ctx.Group).Fit(model, settings, ctx.Task.TrainBatches(settings.BatchSize, shard: ctx.Shard), ctx.Task.Loss(model),
            checkpointDir: Path.Combine(ctx.StageDir, "qat"), resume: ctx.Resume, metadata: meta,
            description: "quant-aware", cancel: ctx.Cancel, beforeStep: BeforeStep, allowChanges: ctx.AllowChanges);
        Plots.TrainingCurve.Save(Path.Combine(ctx.StageDir, "qat"), "quantization-aware training", ctx.Task.MetricName);
        return plan;
    }

    private static QuantizationPlan Calibrate(StageContext ctx, torch.nn.Module model, QuantizationOptions options, QuantSection section)
    {
        int batchSize = ctx.Recipe.Train.BatchSize;
        IEnumerable<Tensor> batches;
        try
        {
            batches = ctx.Task.CalibrationImages(section.CalibrationBatches, batchSize, m => ctx.Progress.Info($"quant: {m} (quant.calibration_batches)"));
        }
        catch (SlimException e) when (e is not QuantizationException)
        {
            throw new QuantizationException($"quant --mode post: {e.Message}");
        }
        ctx.Progress.Info($"quant: calibrating ({QuantizationResult.AlgorithmName(section.Algo)}) on up to {section.CalibrationBatches} batches of {batchSize} training images from {ctx.Task.TrainSource}");
        if (ctx.Group is { world_size: > 1 } g)
            ctx.Progress.Info($"quant: the calibration batches are split over {g.world_size} processes and their statistics merged");
        var (plan, _) = PostTrainingQuantizer.Run(model, options, x => ctx.Task.Family.Forward(model, x), batches, ctx.Group);
        return plan;
    }

    /// <summary>"aware, 200 it, 40/45 layers int8" or "post kl, 10 batches, 40/45 layers int8".</summary>
    private static string Detail(QuantSection s, int quantized, int total)
    {
        string how = s.Mode == QuantMode.Aware
            ? $"aware, {s.FineTune.Iterations} it"
            : $"post {QuantizationResult.AlgorithmName(s.Algo)}, {s.CalibrationBatches} batches";
        string skip = s.NotQuant.Count > 0 ? $", not_quant {string.Join(",", s.NotQuant)}" : "";
        return $"{how}, {quantized}/{total} layers int8{skip}";
    }

    /// <summary>
    /// "quant: 24 activations quantized besides the layer inputs, so ONNX Runtime keeps the graph in int8: 20 conv
    /// outputs, 2 concats (4 inputs)", or null when the plan has no quantization point.
    /// </summary>
    public static string? PointsLine(QuantizationPlan plan)
    {
        if (plan.Points.Count == 0) return null;
        var outputs = plan.Points.Count(p => p.Kind == QuantPointKind.ConvOutput);
        var merges = plan.Points.Where(p => p.Kind == QuantPointKind.MergeInputs).ToList();
        int activations = outputs + merges.Sum(m => m.Inputs);
        var parts = new List<string>();
        if (outputs > 0) parts.Add($"{outputs} conv outputs");
        if (merges.Count > 0) parts.Add($"{merges.Count} concats/adds ({merges.Sum(m => m.Inputs)} inputs)");
        return $"quant: {activations} activations quantized besides the layer inputs, so ONNX Runtime keeps the graph in int8: {string.Join(", ", parts)}";
    }

    /// <summary>The layer report as aligned text lines (module, type, int8, reason).</summary>
    public static IReadOnlyList<string> ReportLines(QuantizationPlan plan)
    {
        var rows = new List<string[]> { QuantizationPlan.Columns.ToArray() };
        rows.AddRange(plan.Rows());
        var widths = Enumerable.Range(0, 3).Select(c => rows.Max(r => r[c].Length)).ToArray();
        return rows.Select(r =>
        {
            var sb = new StringBuilder();
            for (int c = 0; c < 3; c++) sb.Append(r[c].PadRight(widths[c] + 2));
            return sb.Append(r[3]).ToString();
        }).Prepend(QuantizationPlan.QuantizedMeaning).ToList();
    }

    /// <summary>What the INT8 exporter needs from a quant.json: the layer and quantization-point records.</summary>
    public static QuantizationResult ReadQuantizationFile(string path) => QuantFile.Read(path).ToResult();
}
