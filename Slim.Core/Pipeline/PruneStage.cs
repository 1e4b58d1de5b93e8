using System.Globalization;
using Slim.Compression.Distillation;
using Slim.Compression.Pruning;
using Slim.Models;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Torch;
using Slim.Training;

namespace Slim.Pipeline;

/// <summary>
/// The prune stage: optional sensitivity analysis (which may choose the ratios), physical channel
/// pruning of the input model, a checkpoint whose metadata rebuilds the pruned network, AP right
/// after pruning, and a resumable fine-tune, optionally distilled from the unpruned model.
/// <para>
/// Files in the stage folder: <see cref="PrunedName"/> (pruned, before fine-tuning),
/// <see cref="ModelName"/> (the stage's output), the trainer's last/best checkpoints,
/// <see cref="LayersName"/> (per-layer before/after table) and the sensitivity files when analysed.
/// </para>
/// </summary>
public static class PruneStage
{
    public const string PrunedName = "pruned.ckpt";
    public const string ModelName = "model.ckpt";
    public const string LayersName = "pruned_layers.txt";

    public static StageOutcome Run(StageContext ctx, StageInput input, PruneSection section)
    {
        var inv = CultureInfo.InvariantCulture;
        var criterion = PruneModel.CriterionName(section.Criterion);
        var inputMeta = Checkpoint.ReadMetadata(input.Checkpoint);
        using var loaded = ModelCheckpoint.Load(input.Checkpoint, ctx.Task.Family);
        var (model, arch, options) = (loaded.Model, loaded.Architecture, loaded.Options);
        Func<Tensor, IEnumerable<Tensor>> forward = x => loaded.Forward(x);
        var graph = PruneModel.Graph(model, options, forward);
        // Fail on a bad parameter list or ratio list before any long work. When the sensitivity curves
        // choose the ratios, pruned_ratios is not used and only the parameters are checked.
        var prunedParams = Parameters(ctx.Task.Family, section);
        bool choose = section.Sensitivity is { } s0 && PruneSensitivity.Chooses(s0);
        IReadOnlyList<PruneTarget> targets = choose
            ? PruningRatios.ExpandParameters(prunedParams, graph).Select(p => new PruneTarget(p, 0)).ToList()
            : PruneModel.Targets(graph, prunedParams, Ratios(ctx.Task.Family, section));
        foreach (var t in targets) graph.GroupOf(t.Parameter);
        string ratioLabel = PruneModel.RatioLabel(Ratios(ctx.Task.Family, section), targets);

        LatencyChoice? latencyChoice = null;
        double apBefore = ctx.Task.Evaluate(model).Primary;
        ctx.Progress.Info(string.Create(inv, $"prune: {ctx.Task.MetricName} before pruning = {apBefore * 100:F2} %"));

        if (section.Sensitivity is { } sens)
        {
            var evalTask = sens.ValImages > 0 ? ctx.Task.WithValidationLimit(sens.ValImages) : ctx.Task;
            Func<Slim.Compression.Pruning.Sensitivity.SensitivityResult, (IReadOnlyList<PruneTarget>, string)>? byLatency = null;
            if (sens.TargetLatencyReduction > 0)
                byLatency = curves =>
                {
                    // Timings differ between processes: rank 0 chooses, the others take its ratios.
                    double[] ratios;
                    if (ctx.Group is null || ctx.Group.rank == 0)
                    {
                        using var sampleScope = torch.NewDisposeScope();
                        var sample = ctx.Task.SampleInput();
                        latencyChoice = PruneLatency.Choose(ctx.Task.Family, path => ctx.Task.OnnxInputs(path, sample), arch, options, () => ctx.Task.Family.CreateModel(arch, options), graph, curves, sens,
                            ctx.Recipe.Export, criterion, section.Align, ctx.StageDir, ctx.Resume, ctx.Progress, ctx.Cancel);
                        ctx.Progress.Info(PruneLatency.Report(latencyChoice, curves.Parameters));
                        ratios = latencyChoice.Chosen.Ratios.ToArray();
                    }
                    else ratios = new double[curves.Parameters.Count];
                    if (ctx.Group is { } g) ratios = g.BroadcastDoubles(ratios);
                    return (curves.Parameters.Select((p, i) => new PruneTarget(p, ratios[i])).ToList(),
                        string.Create(inv, $"latency reduction ≥ {sens.TargetLatencyReduction * 100:0.#} % (measured in ONNX Runtime) with the least loss"));
                };
            var outcome = PruneSensitivity.Run(model, () => ctx.Task.Family.CreateModel(arch, options), graph, targets.Select(t => t.Parameter).ToList(), sens, criterion,
                m => evalTask.Evaluate(m).Primary, ctx.StageDir, ctx.Resume, ctx.Progress, ctx.Cancel, ctx.Task.MetricName, evalTask.ValImageCount, ctx.Group, byLatency);
            ctx.Progress.Info(outcome.Table);
            if (outcome.Chosen is { } chosen)
            {
                targets = chosen;
                ratioLabel = sens.TargetLatencyReduction > 0
                    ? string.Create(inv, $"sensitivity -{sens.TargetLatencyReduction * 100:0.#}% latency")
                    : sens.TargetFlopsReduction > 0
                    ? string.Create(inv, $"sensitivity -{sens.TargetFlopsReduction * 100:0.#}% FLOPs")
                    : string.Create(inv, $"sensitivity max loss {sens.MaxLoss * 100:0.##} pts");
                ctx.Progress.Info($"prune: ratios chosen from the sensitivity curves: {outcome.ChosenArguments}");
            }
        }

        var result = PruneModel.Apply(model, options, graph, targets, criterion, forward, section.Align);
        if (section.Align > 1) ratioLabel += $" align {section.Align}";
        if (latencyChoice is { } lc)
            ratioLabel += string.Create(inv, $" (predicted -{lc.PredictedReduction * 100:0.#}%, measured -{lc.Chosen.MeasuredReduction * 100:0.#}% here)");
        var layers = PruneTables.Render(PruneTables.Layers(result));
        if (PruneTables.Alignment(result) is { } alignment) layers = PruneTables.Render(alignment) + "\n" + layers;
        var totals = PruneTables.Render(PruneTables.Totals(result.Before, result.After, $"{arch} {ratioLabel} {criterion}"));
        AtomicFile.WriteAllText(Path.Combine(ctx.StageDir, LayersName), layers + "\n" + totals + "\n\n" + PruneTables.Render(PruneTables.Explain(graph, result)) + "\n");
        ctx.Progress.Info(layers);
        ctx.Progress.Info(totals);

        var meta = PruneModel.Metadata(arch, result, criterion, inputMeta);
        PruneModel.Save(Path.Combine(ctx.StageDir, PrunedName), model, meta);
        model.eval();
        double apPruned = ctx.Task.Evaluate(model).Primary;
        ctx.Progress.Info(string.Create(inv, $"prune: {ctx.Task.MetricName} right after pruning = {apPruned * 100:F2} %"));

        var fineTune = section.FineTune;
        double apFinal = apPruned;
        string detail = $"{ratioLabel} {criterion}";
        if (fineTune.Iterations > 0)
        {
            FineTune(ctx, input, section, model, result.Options, meta);
            model.eval();
            apFinal = ctx.Task.Evaluate(model).Primary;
            ctx.Progress.Info(string.Create(inv, $"prune: {ctx.Task.MetricName} after fine-tuning = {apFinal * 100:F2} %"));
            detail += string.Create(inv, $", fine-tune {fineTune.Iterations} it") +
                (section.Distill is { } d ? $" (+{DistillStage.TypeName(ctx.Task.Family.Distillation(d, options).Kind)})" : "");
        }
        var output = Path.Combine(ctx.StageDir, ModelName);
        PruneModel.Save(output, model, meta);

        return new StageOutcome
        {
            Stage = "prune",
            Detail = detail,
            Checkpoint = output,
            Ap = apFinal,
            Extra = new Dictionary<string, double>
            {
                ["ap_before"] = apBefore,
                ["ap_after_prune"] = apPruned,
                ["ap_after_finetune"] = apFinal,
                ["gflops_before"] = result.Before.PaddleGFlops,
                ["gflops_after"] = result.After.PaddleGFlops,
                ["params_before"] = result.Before.Parameters,
                ["params_after"] = result.After.Parameters,
                ["size_mib_before"] = result.Before.SizeMiB,
                ["size_mib_after"] = result.After.SizeMiB,
            }.Concat(latencyChoice is not { } c ? [] : new Dictionary<string, double>
            {
                ["latency_target"] = c.Target,
                ["latency_predicted_ms"] = c.Chosen.PredictedMs,
                ["latency_table_ms"] = c.TableMs,
                ["latency_unpruned_ms"] = c.Chosen.BaselineMs,
                ["latency_pruned_ms"] = c.Chosen.MeasuredMs,
            }).ToDictionary(),
        };
    }

    /// <summary>
    /// Trains the pruned model in place (resumable from the stage folder), distilled from the
    /// unpruned model when the section asks; ends with the best checkpoint's weights when the
    /// trainer evaluated, else the last.
    /// </summary>
    private static void FineTune(StageContext ctx, StageInput input, PruneSection section, torch.nn.Module model, Slim.Models.ModelOptions options, IReadOnlyDictionary<string, string> meta)
    {
        var settings = TrainSettings.From(ctx.Recipe.Train, section.FineTune) with
        {
            CheckpointInterval = Math.Max(10, section.FineTune.Iterations / 10),
        };
        var taskLoss = ctx.Task.Loss(model);
        Func<double>? evaluate = settings.EvalInterval > 0 ? () => ctx.Task.Evaluate(model).Primary : null;
        var trainer = new Trainer(ctx.Progress, ctx.Group);
        TrainResult run;
        if (section.Distill is { } d)
        {
            using var teacher = ModelCheckpoint.Load(TeacherCheckpoint(d, input), ctx.Task.Family);
            using var distiller = new Distiller(teacher.Model, model, ctx.Task.Family.Distillation(d, options));
            using (var sample = ctx.Task.SampleInput()) distiller.Validate(sample);
            // The trainer saves the student's weights under their own names (plus any l2 adapters).
            var trained = distiller.TrainableModule;
            run = trainer.Fit(trained, settings, ctx.Task.TrainBatches(settings.BatchSize, shard: ctx.Shard),
                DistillationTraining.WithDistillation(taskLoss, distiller, b => b.Images),
                evaluate, ctx.StageDir, ctx.Resume, meta, "prune fine-tune (distilled)", ctx.Cancel, metricName: ctx.Task.MetricName, allowChanges: ctx.AllowChanges);
            if (run.BestCheckpoint is { } best) Trainer.LoadModel(best, trained);
        }
        else
        {
            run = trainer.Fit(model, settings, ctx.Task.TrainBatches(settings.BatchSize, shard: ctx.Shard), taskLoss,
                evaluate, ctx.StageDir, ctx.Resume, meta, "prune fine-tune", ctx.Cancel, metricName: ctx.Task.MetricName, allowChanges: ctx.AllowChanges);
            if (run.BestCheckpoint is { } best) Trainer.LoadModel(best, model);
        }
        Plots.TrainingCurve.Save(ctx.StageDir, section.Distill is null ? "prune fine-tune" : "prune fine-tune (distilled)", ctx.Task.MetricName);
        model.eval();
    }

    /// <summary>The teacher of a distilled fine-tune: the unpruned input model ("baseline") or a checkpoint path.</summary>
    private static string TeacherCheckpoint(DistillSection d, StageInput input)
    {
        if (d.Teacher == "baseline") return input.Checkpoint;
        if (File.Exists(d.Teacher)) return d.Teacher;
        throw new SlimException($"prune.distill.teacher '{d.Teacher}': the prune stage distills from 'baseline' (the unpruned model) " +
            "or an existing checkpoint file; to train a separate teacher use a distill stage");
    }

    /// <summary>The section's pruned_ratios, or the family's default when it gives none.</summary>
    public static string Ratios(Slim.Tasks.TaskFamily family, PruneSection section) =>
        string.IsNullOrWhiteSpace(section.PrunedRatios) ? family.DefaultPrunedRatios : section.PrunedRatios;

    /// <summary>The section's pruned_params as one comma list, or the family's default when it names none.</summary>
    public static string Parameters(Slim.Tasks.TaskFamily family, PruneSection section) =>
        string.Join(",", section.PrunedParams.Count > 0 ? section.PrunedParams : family.DefaultPrunedParameters);
}
