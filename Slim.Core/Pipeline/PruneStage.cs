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
    /// <summary>verify.baseline.on_fail: fallback: every try of the ratios (<see cref="PruneFallbackResult"/>) as JSON.</summary>
    public const string FallbackName = "prune_fallback.json";
    /// <summary>Folder of fallback try k (k ≥ 1) inside the stage folder.</summary>
    public const string FallbackPrefix = "fallback-";

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
        Slim.Compression.Pruning.Sensitivity.SensitivityResult? curves = null;
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
            curves = outcome.Result;
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

        if (section.Align > 1) ratioLabel += $" align {section.Align}";
        if (latencyChoice is { } lc)
            ratioLabel += string.Create(inv, $" (predicted -{lc.PredictedReduction * 100:0.#}%, measured -{lc.Chosen.MeasuredReduction * 100:0.#}% here)");

        // One try: prune the input model with these targets, fine-tune, score. Try 0 (the asked ratios) works in the
        // stage folder on the model already loaded; fallback tries each in their own folder on a fresh copy.
        PruneAttempt Attempt(int k, IReadOnlyList<PruneTarget> t)
        {
            var dir = k == 0 ? ctx.StageDir : Directory.CreateDirectory(Path.Combine(ctx.StageDir, $"{FallbackPrefix}{k}")).FullName;
            var tctx = ctx with { StageDir = dir };
            LoadedModel? fresh = k == 0 ? null : ModelCheckpoint.Load(input.Checkpoint, ctx.Task.Family);
            try
            {
                var m = fresh?.Model ?? model;
                Func<Tensor, IEnumerable<Tensor>> fwd = fresh is null ? forward : x => fresh.Forward(x);
                var g = fresh is null ? graph : PruneModel.Graph(m, options, fwd);
                var label = k == 0 ? ratioLabel : $"{ratioLabel}, fallback try {k}";
                var result = PruneModel.Apply(m, options, g, t, criterion, fwd, section.Align);
                var layers = PruneTables.Render(PruneTables.Layers(result));
                if (PruneTables.Alignment(result) is { } alignment) layers = PruneTables.Render(alignment) + "\n" + layers;
                var totals = PruneTables.Render(PruneTables.Totals(result.Before, result.After, $"{arch} {label} {criterion}"));
                AtomicFile.WriteAllText(Path.Combine(dir, LayersName), layers + "\n" + totals + "\n\n" + PruneTables.Render(PruneTables.Explain(g, result)) + "\n");
                ctx.Progress.Info(layers);
                ctx.Progress.Info(totals);

                var meta = PruneModel.Metadata(arch, result, criterion, inputMeta);
                PruneModel.Save(Path.Combine(dir, PrunedName), m, meta);
                m.eval();
                double apPruned = ctx.Task.Evaluate(m).Primary;
                ctx.Progress.Info(string.Create(inv, $"prune: {ctx.Task.MetricName} right after pruning = {apPruned * 100:F2} %"));
                double apFinal = apPruned;
                if (section.FineTune.Iterations > 0)
                {
                    FineTune(tctx, input, section, m, result.Options, meta);
                    m.eval();
                    apFinal = ctx.Task.Evaluate(m).Primary;
                    ctx.Progress.Info(string.Create(inv, $"prune: {ctx.Task.MetricName} after fine-tuning = {apFinal * 100:F2} %"));
                }
                var output = Path.Combine(dir, ModelName);
                PruneModel.Save(output, m, meta);
                return new PruneAttempt(result, output, apPruned, apFinal);
            }
            finally
            {
                fresh?.Dispose();
            }
        }

        string detail = $"{ratioLabel} {criterion}";
        if (section.FineTune.Iterations > 0)
            detail += string.Create(inv, $", fine-tune {section.FineTune.Iterations} it") +
                (section.Distill is { } d ? $" (+{DistillStage.TypeName(ctx.Task.Family.Distillation(d, options).Kind)})" : "");
        PruneAttempt kept;
        int tries = 1;
        if (ctx.Recipe.Verify is { Enabled: true, Baseline.OnFail: OnFail.Fallback })
        {
            (kept, var said, tries) = WithFallback(ctx, input, graph, curves, targets, Attempt);
            if (said is not null) detail += ", " + said;
        }
        else kept = Attempt(0, targets);
        var output = Path.Combine(ctx.StageDir, ModelName);
        var final = kept.Result;

        return new StageOutcome
        {
            Stage = "prune",
            Detail = detail,
            Checkpoint = output,
            Ap = kept.ApFinal,
            Extra = new Dictionary<string, double>
            {
                ["ap_before"] = apBefore,
                ["ap_after_prune"] = kept.ApPruned,
                ["ap_after_finetune"] = kept.ApFinal,
                ["gflops_before"] = final.Before.PaddleGFlops,
                ["gflops_after"] = final.After.PaddleGFlops,
                ["params_before"] = final.Before.Parameters,
                ["params_after"] = final.After.Parameters,
                ["size_mib_before"] = final.Before.SizeMiB,
                ["size_mib_after"] = final.After.SizeMiB,
            }.Concat(latencyChoice is not { } c ? [] : new Dictionary<string, double>
            {
                ["latency_target"] = c.Target,
                ["latency_predicted_ms"] = c.Chosen.PredictedMs,
                ["latency_table_ms"] = c.TableMs,
                ["latency_unpruned_ms"] = c.Chosen.BaselineMs,
                ["latency_pruned_ms"] = c.Chosen.MeasuredMs,
            }).Concat(tries <= 1 ? [] : new Dictionary<string, double> { ["prune_tries"] = tries }).ToDictionary(),
        };
    }

    private static readonly System.Text.Json.JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The tries of a fallback saved in a stage folder (<see cref="FallbackName"/>).</summary>
    public static PruneFallbackResult ReadFallback(string path) =>
        System.Text.Json.JsonSerializer.Deserialize<PruneFallbackResult>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: empty fallback record");

    /// <summary>
    /// verify.baseline.on_fail: fallback: the asked ratios, then (while the fine-tuned model scores below the baseline less
    /// max_drop) ratios halved in the most sensitive quarter of the pruned groups (<see cref="PruneFallback"/>); the kept try's
    /// files become the stage's. Returns the kept try, what to add to the stage's detail when there was more than one, and
    /// how many there were.
    /// </summary>
    private static (PruneAttempt Kept, string? Detail, int Tries) WithFallback(StageContext ctx, StageInput input, ChannelDependencyGraph graph,
        Slim.Compression.Pruning.Sensitivity.SensitivityResult? curves, IReadOnlyList<PruneTarget> targets,
        Func<int, IReadOnlyList<PruneTarget>, PruneAttempt> attempt)
    {
        var inv = CultureInfo.InvariantCulture;
        var gate = ctx.Recipe.Verify.Baseline;
        double baselineScore = gate.Ap ?? input.BaselineAp;
        double floor = baselineScore - gate.MaxDrop;
        // Sensitivity of a group at a ratio: its measured parameter's interpolated loss (within the measured ratios).
        var measuredOf = curves?.Parameters.ToDictionary(p => graph.GroupOf(p).Id, p => p);
        Func<string, double, double>? sensitivity = curves is null ? null : (p, r) =>
            measuredOf!.TryGetValue(graph.GroupOf(p).Id, out var mp) ? curves.InterpolatedLoss(mp, Math.Min(r, curves.Curve(mp)[^1].Ratio)) : r;
        int groups = targets.Where(t => t.Ratio > 0).Select(t => graph.GroupOf(t.Parameter).Id).Distinct().Count();
        var attempts = new List<PruneAttempt>();
        var fallback = PruneFallback.Run(targets, p => graph.GroupOf(p).Id, sensitivity, (k, t) => { var a = attempt(k, t); attempts.Add(a); return a.ApFinal; },
            m => m >= floor - 1e-12, gate.MaxPruneTries, Math.Max(1, (groups + 3) / 4),
            t => ctx.Progress.Info(string.Create(inv,
                $"prune fallback: try {attempts.Count - 1}: {ctx.Task.MetricName} {t.Metric * 100:F2} % against the floor {floor * 100:F2} % " +
                $"(baseline {baselineScore * 100:F2} % - max_drop {gate.MaxDrop * 100:0.##}): {(t.Passed ? "pass" : "FAIL")}")),
            ctx.Cancel);
        AtomicFile.WriteAllText(Path.Combine(ctx.StageDir, FallbackName), System.Text.Json.JsonSerializer.Serialize(fallback, Json));
        var kept = attempts[fallback.KeptTry];
        if (fallback.Tries.Count == 1) return (kept, null, 1);
        ctx.Progress.Info(fallback.Passed
            ? $"prune fallback: try {fallback.KeptTry} passes: {PruneSensitivity.Arguments(fallback.Kept.Targets)}"
            : $"prune fallback: no try passed; keeping the best, try {fallback.KeptTry}: {PruneSensitivity.Arguments(fallback.Kept.Targets)}");
        if (fallback.KeptTry > 0)
            foreach (var name in new[] { ModelName, LayersName, PrunedName })
                File.Copy(Path.Combine(Path.GetDirectoryName(kept.Checkpoint)!, name), Path.Combine(ctx.StageDir, name), overwrite: true);
        return (kept, $"fallback: try {fallback.KeptTry} of {fallback.Tries.Count - 1} kept ({(fallback.Passed ? "passes" : "best, none passed")})", fallback.Tries.Count);
    }

    // One pruned and fine-tuned model: the pruning, its checkpoint, and its scores right after pruning and after fine-tuning.
    private sealed record PruneAttempt(PruneResult Result, string Checkpoint, double ApPruned, double ApFinal);

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
            string teacherPath = TeacherCheckpoint(d, input);
            var teacherInput = DistillStage.TeacherInput(ctx.Task, teacherPath);
            using var teacher = ModelCheckpoint.Load(teacherPath, ctx.Task.Family);
            using var distiller = new Distiller(teacher.Model, model, ctx.Task.Family.Distillation(d, options), DistillStage.TeacherForward(teacher.Model, teacherInput));
            if (teacherInput is not null)
                ctx.Progress.Info($"prune: the teacher {teacherPath} was trained on other input statistics than the student; it gets each batch renormalized ({teacherInput})");
            using (var sample = ctx.Task.SampleInput()) distiller.Validate(sample);
            DistillStage.FitAdapters(ctx, distiller, d, "prune");
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
