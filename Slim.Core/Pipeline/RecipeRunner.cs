using System.Globalization;
using System.Text.Json;
using Slim.Analysis;
using Slim.Data;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Torch;
using Slim.Training;

namespace Slim.Pipeline;

/// <summary>
/// Runs a whole recipe: train the baseline, each compression stage in order, export, verify,
/// and write the model-zoo style report. Every stage writes into its own folder and finishes
/// by writing result.json atomically, so <c>--resume</c> skips finished stages and continues
/// an interrupted one from its last checkpoint.
/// </summary>
public sealed class RecipeRunner
{
    public const string ResultFile = "result.json";
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly IProgressSink _progress;
    private readonly ProcessGroup? _group;

    /// <summary>
    /// A runner reporting to <paramref name="progress"/>. With a <paramref name="group"/> of several processes (one per
    /// rank, each running the same recipe) the run is data-parallel: rank 0 owns the run folder and alone writes its
    /// files and the report; the other ranks work in a private scratch folder, take rank 0's decisions (which stages are
    /// finished) and its files (finished stages' models, checkpoints to resume) over the group, train their share of
    /// every batch, and stop after the last compression stage (export and verification are rank 0's).
    /// </summary>
    public RecipeRunner(IProgressSink? progress = null, ProcessGroup? group = null)
    {
        _progress = progress ?? NullProgress.Instance;
        _group = group is { world_size: > 1 } ? group : null;
    }

    private bool Follower => _group is { rank: > 0 };

    /// <summary>
    /// Runs the recipe into outDir and returns the report (also written as report.md, report.html and report.json). With
    /// <paramref name="resume"/> and <paramref name="allowChanges"/> a folder started with other settings is continued
    /// (each change said); with resume alone it is refused before any work.
    /// </summary>
    public RunReport Run(Recipe recipe, string recipePath, string outDir, bool resume, CancellationToken cancel = default, bool allowChanges = false)
    {
        outDir = Path.GetFullPath(outDir);
        if (_group is null) return Run(recipe, recipePath, outDir, resume, cancel, allowChanges, null);
        // Rank 0's folder, as rank 0 names it (the hosts' working folders may differ).
        var rank0Out = _group.BroadcastString(outDir);
        if (!Follower) return Run(recipe, recipePath, outDir, resume, cancel, allowChanges, null);
        var scratch = ScratchFolder(rank0Out, _group.rank);
        try
        {
            return Run(recipe, recipePath, scratch, resume, cancel, allowChanges, rank0Out);
        }
        finally
        {
            try { Directory.Delete(scratch, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Where rank <paramref name="rank"/> &gt; 0 of a data-parallel run keeps its copies while the run lasts.</summary>
    public static string ScratchFolder(string rank0Out, int rank)
    {
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(rank0Out)))[..16].ToLowerInvariant();
        return Path.Combine(Path.GetTempPath(), "slim-ranks", $"{hash}-rank{rank}");
    }

    // rank0Out: null on rank 0 (or alone), else rank 0's folder whose finished stages this follower copies.
    private RunReport Run(Recipe recipe, string recipePath, string outDir, bool resume, CancellationToken cancel, bool allowChanges, string? rank0Out)
    {
        bool follower = rank0Out is not null;
        if (File.Exists(outDir)) throw new SlimException($"--out {outDir}: is a file; a run needs a folder (new, or one to --resume)");
        // Everything that can be checked without training is checked before the run folder is touched,
        // so a broken recipe leaves nothing half-written behind.
        if (!follower)
        {
            RunLock.ThrowIfHeld(outDir);
            if (RunLock.HasContent(outDir) && !resume)
                throw new SlimException($"run folder '{outDir}' is not empty: pass --resume to continue that run, or choose another --out");
        }
        InRecipe(recipePath, () =>
        {
            if (TaskRegistry.For(recipe).CheckRecipe(recipe) is { } problem) throw new SlimException(problem);
            if (_group is not null && DataShard.CheckBatchSize(recipe.Train.BatchSize, _group.world_size) is { } split) throw new SlimException(split);
        });
        var family = TaskRegistry.For(recipe);
        // Rank 0 opens the data first (generating the offline sample data if needed); the others open it after.
        var task = Collectives.RankZeroFirst(_group, () => TaskRegistry.CreateTask(recipe, _progress.Info));
        InRecipe(recipePath, () => Preflight(recipe, task));
        if (follower)
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
            Directory.CreateDirectory(outDir);
            _group!.barrier(); // rank 0 has checked and prepared its folder
            return RunStages(recipe, task, outDir, cancel, allowChanges, rank0Out).Report;
        }
        PrepareFolder(outDir, resume);
        using var runLock = RunLock.Acquire(outDir);
        var settings = RecipeSettings.Of(recipe);
        var settingsPath = Path.Combine(outDir, RecipeSettings.FileName);
        if (resume && File.Exists(settingsPath))
        {
            var changes = JsonDiff.Changes(File.ReadAllText(settingsPath), settings);
            if (changes.Count > 0 && !allowChanges)
                throw new SlimException($"run folder '{outDir}' was started with other settings ({string.Join("; ", changes.Take(4))}{(changes.Count > 4 ? $"; {changes.Count - 4} more" : "")}): " +
                                        "pass --allow-changes to continue it with the new ones, or choose another --out");
            foreach (var c in changes) _progress.Info($"resuming with a changed setting: {c}");
        }
        AtomicFile.WriteAllText(Path.Combine(outDir, "recipe.yml"), File.ReadAllText(recipePath));
        AtomicFile.WriteAllText(settingsPath, settings);
        _group?.barrier(); // the followers wait for the folder to be checked and prepared

        var (rows, baseline, current, floatCheckpoint, quantFile) = RunStages(recipe, task, outDir, cancel, allowChanges, null);

        // Export and verification.
        if (recipe.Export.Fp32 || recipe.Export.Int8)
        {
            cancel.ThrowIfCancellationRequested();
            var exportDir = Path.Combine(outDir, "export");
            Directory.CreateDirectory(exportDir);
            var ctx = new StageContext(recipe, task, exportDir, true, _progress, cancel);
            var specs = quantFile is not null && recipe.Export.Int8 ? QuantStage.ReadQuantizationFile(quantFile) : null;
            var exported = ExportStage.Run(ctx, floatCheckpoint, specs is not null ? current.Checkpoint : null, specs, recipe.Export);
            if (recipe.Verify.Enabled)
            {
                var verifyDir = Path.Combine(outDir, "verify");
                Directory.CreateDirectory(verifyDir);
                var vctx = ctx with { StageDir = verifyDir };
                var verified = VerifyStage.Run(vctx, exported, recipe.Verify, baseline.Ap);
                QuantFallbackOutcome? fallback = null;
                if (!verified.Passed && recipe.Verify.Baseline.OnFail == OnFail.Fallback && specs is not null
                    && verified.Models.Any(m => m.Precision == "int8" && !m.Passed))
                {
                    // Floating layers brings INT8 toward the float model; when that fails too, no fallback can pass.
                    if (verified.Models.FirstOrDefault(m => m.Precision == "fp32") is { Passed: false })
                        _progress.Info("fallback: skipped: the FP32 model already drops more than max_drop, so no INT8 model with layers in float can pass");
                    else
                    {
                        fallback = QuantFallbackStage.Run(ctx, vctx, floatCheckpoint, current.Checkpoint, specs,
                            recipe.Stages.Last(s => s.Quant is not null).Quant!, baseline.Ap);
                        (exported, verified) = (fallback.Exported, fallback.Verified);
                    }
                }
                var verifyRows = VerifyRows(verified, recipe, rows.First(r => r.Checkpoint == floatCheckpoint), rows[^1]).ToList();
                if (fallback is not null)
                    verifyRows = verifyRows.Select(r => r.Stage == "onnx int8"
                        ? r with { Detail = $"{r.Detail}, {fallback.Fallback.Kept.FloatLayers.Count} layer(s) float (fallback)" } : r).ToList();
                rows.AddRange(verifyRows);
                if (RuntimeDisagreement(verified, quantFile is null ? null : current.Ap, task.MetricName) is { } warning) _progress.Info(warning);
                var report = Finish(outDir, recipe, task, rows, exported.Int8Deployment);
                if (!verified.Passed)
                    throw new VerificationFailedException(verified.FailureMessage + (fallback is null ? "" :
                        $"; the fallback kept {fallback.Fallback.Kept.FloatLayers.Count} layer(s) in float ({string.Join(", ", fallback.Fallback.Kept.FloatLayers)}) " +
                        $"and this is the best INT8 model it found (its tries: {Path.Combine(verifyDir, QuantFallbackStage.FileName)}); raise verify.baseline.max_fallback_layers or max_drop"));
                return report;
            }
        }
        return Finish(outDir, recipe, task, rows, null);
    }

    private sealed record StagesDone(List<StageReport> Rows, StageOutcome Baseline, StageOutcome Current, string FloatCheckpoint, string? QuantFile)
    {
        // What a follower returns: the rows of the stages it took part in (nothing is written).
        public RunReport Report => new() { Name = "", Metric = "", Stages = Rows };
    }

    /// <summary>The baseline and every compression stage, each run once (see <see cref="RunOnce"/>).</summary>
    private StagesDone RunStages(Recipe recipe, ITask task, string outDir, CancellationToken cancel, bool allowChanges, string? rank0Out)
    {
        var family = task.Family;
        var rows = new List<StageReport>();

        // Baseline.
        var trainDir = StageDir(outDir, 0, "train");
        var baseline = RunOnce(trainDir, () =>
        {
            var run = TrainStage.Run(task, trainDir, resume: true, _progress, cancel, description: "train baseline", allowChanges: allowChanges, group: _group);
            return new StageOutcome { Stage = "baseline", Detail = $"{family.Describe(recipe.Model)}, {recipe.Train.Iterations} it", Checkpoint = run.Checkpoint, Ap = run.Score.Primary };
        }, outDir, rank0Out);
        rows.Add(Row(baseline, recipe));

        // Compression stages.
        var current = baseline;
        string floatCheckpoint = baseline.Checkpoint;
        string? quantFile = null;
        for (int i = 0; i < recipe.Stages.Count; i++)
        {
            var stage = recipe.Stages[i];
            var dir = StageDir(outDir, i + 1, stage.Kind);
            var ctx = new StageContext(recipe, task, dir, true, _progress, cancel) { AllowChanges = allowChanges, Group = _group };
            var input = new StageInput(current.Checkpoint, baseline.Checkpoint, baseline.Ap);
            var outcome = RunOnce(dir, () => stage switch
            {
                { Prune: { } p } => PruneStage.Run(ctx, input, p),
                { Distill: { } d } => DistillStage.Run(ctx, input, d),
                { Quant: { } q } => QuantStage.Run(ctx, input, q),
                _ => throw new InvalidOperationException("empty stage"),
            }, outDir, rank0Out);
            rows.Add(Row(outcome, recipe));
            if (outcome.QuantizationFile is null) floatCheckpoint = outcome.Checkpoint;
            else quantFile = outcome.QuantizationFile;
            current = outcome;
        }
        return new StagesDone(rows, baseline, current, floatCheckpoint, quantFile);
    }

    /// <summary>
    /// The INT8 file should score what the fake-quantized model scored: a gap of more than a point means ONNX
    /// Runtime computes something else than the simulation (a kernel that overflows or mishandles a layer),
    /// which no accuracy check against the baseline would name. Said as a warning with what to try.
    /// </summary>
    internal static string? RuntimeDisagreement(VerifyOutcome verified, double? fakeQuant, string metric)
    {
        if (fakeQuant is not double fq || verified.Models.FirstOrDefault(m => m.Precision == "int8") is not { } int8) return null;
        double gap = Math.Abs(int8.Ap - fq) * 100;
        if (gap <= 1.0) return null;
        return string.Create(CultureInfo.InvariantCulture,
            $"warning: the INT8 model scores {int8.Ap * 100:F2} % in ONNX Runtime but {fq * 100:F2} % fake-quantized ({metric}, {gap:F2} pts apart): ")
            + "the runtime computes something else than the simulation; try quant.weight_bits: 7 if it is 8, or keep the layer types it mishandles in float (quant.not_quant)";
    }

    /// <summary>Builds the (untrained) model once and checks every stage's names against it.</summary>
    private static void Preflight(Recipe recipe, ITask task)
    {
        using var scope = Slim.Torch.torch.NewDisposeScope();
        using var model = task.CreateModel();
        Preflight(recipe, task.Family, model, task.ModelOptions());
        // The pretrained weights read and every shape checked on the model the run trains (the data's class count).
        if (recipe.Model.Pretrained is not null) PretrainedWeights.Apply(recipe.Model, model, apply: false);
    }

    /// <summary>
    /// What <see cref="Run(Recipe, string, string, bool, CancellationToken, bool)"/> checks before any work, without the data: the family accepts the recipe, its model
    /// builds, and every stage's patterns, ratio lists, distillation pairs and teacher resolve on that model. The
    /// class count is the recipe's, or a stand-in when it comes from the data (no prunable layer depends on it).
    /// Returns the model's description for a message.
    /// </summary>
    public static string CheckWithoutData(Recipe recipe)
    {
        var family = TaskRegistry.For(recipe);
        if (family.CheckRecipe(recipe) is { } problem) throw new SlimException(problem);
        var m = recipe.Model;
        var options = new Slim.Models.ModelOptions
        {
            NumClasses = m.NumClasses > 0 ? m.NumClasses : 10,
            Width = m.Width,
            InputSize = m.InputSize,
            InChannels = m.InChannels > 0 ? m.InChannels : 3,
        };
        using var scope = Slim.Torch.torch.NewDisposeScope();
        using var model = family.CreateModel(m.Name, options);
        Preflight(recipe, family, model, options);
        // Without the data the class count may be a stand-in: the head is checked with the data.
        if (m.Pretrained is not null && (m.NumClasses > 0 || m.PretrainedBackboneOnly)) PretrainedWeights.Apply(m, model, apply: false);
        else if (m.Pretrained is not null && !File.Exists(m.Pretrained)) throw new SlimException($"model.pretrained: {m.Pretrained} does not exist");
        return family.Describe(m);
    }

    /// <summary><see cref="CheckWithoutData"/>, then the data opened as a run would (the task), and the same checks on its model.</summary>
    public static ITask CheckWithData(Recipe recipe, Action<string>? log = null)
    {
        var task = TaskRegistry.CreateTask(recipe, log);
        Preflight(recipe, task);
        return task;
    }

    /// <summary>Runs a check whose messages name a recipe key (stages[1].prune: …), naming the recipe file first.</summary>
    public static void InRecipe(string recipePath, Action check)
    {
        try
        {
            check();
        }
        catch (SlimException e) when (!e.Message.StartsWith(recipePath, StringComparison.Ordinal))
        {
            throw new SlimException($"{recipePath}: {e.Message}");
        }
    }

    private static void Preflight(Recipe recipe, TaskFamily family, Slim.Torch.torch.nn.Module model, Slim.Models.ModelOptions options)
    {
        var modulePaths = model.named_modules().Select(m => m.name).Where(n => n.Length > 0).ToList();
        Slim.Compression.Pruning.ChannelDependencyGraph? graph = null;
        for (int i = 0; i < recipe.Stages.Count; i++)
        {
            var where = $"stages[{i}].{recipe.Stages[i].Kind}";
            try
            {
                switch (recipe.Stages[i])
                {
                    case { Prune: { } p }:
                        graph ??= PruneModel.Graph(model, options, x => family.Forward(model, x));
                        var prunedParams = PruneStage.Parameters(family, p);
                        if (p.Sensitivity is { } s1)
                        {
                            try { PruneSensitivity.CheckSelection(s1); }
                            catch (Slim.Compression.Pruning.PruningException e) { throw new SlimException(e.Message); }
                            if (s1.LatencyTable is { } lt) PruneLatency.Model(PruneLatency.ReadTable(lt), graph, lt);
                        }
                        if (p.Sensitivity is { } sens && PruneSensitivity.Chooses(sens))
                            Slim.Compression.Pruning.PruningRatios.ExpandParameters(prunedParams, graph);
                        else
                            PruneModel.Targets(graph, prunedParams, PruneStage.Ratios(family, p));
                        if (p.Distill is { } pd) CheckDistillSection(pd, family.Distillation(pd, options), "distill");
                        break;
                    case { Quant: { } q } when q.NotQuant.Count > 0:
                        Slim.Compression.Quantization.LayerSelector.CheckPatterns(q.NotQuant, modulePaths);
                        break;
                    case { Distill: { } d }:
                        var distillation = family.Distillation(d, options);
                        CheckDistillSection(d, distillation, "distill");
                        foreach (var fp in distillation.Pairs)
                            if (fp != Slim.Compression.Distillation.FeaturePair.ModelOutput && !modulePaths.Contains(fp.Student))
                                throw new SlimException($"distill pair '{fp}': the student has no module '{fp.Student}'{Slim.Common.Suggest.NearestClause(fp.Student, modulePaths)}");
                        if (d.Teacher is not ("baseline" or "train") && !File.Exists(d.Teacher))
                            throw new SlimException($"teacher checkpoint '{d.Teacher}' not found (use baseline, train, or a checkpoint path)");
                        break;
                }
            }
            catch (SlimException e)
            {
                throw new SlimException($"{where}: {e.Message}");
            }
        }
    }

    private static void CheckDistillSection(DistillSection section, Slim.Compression.Distillation.DistillationOptions options, string key)
    {
        if (section.AdapterInit == AdapterInit.LeastSquares && options.Kind != Slim.Compression.Distillation.DistillationKind.L2)
            throw new SlimException($"{key}.adapter_init: least_squares fits the 1x1 adapters of l2_distill, but this stage distils with " +
                $"{DistillStage.TypeName(options.Kind)}, which has none; set type: l2_distill or drop adapter_init");
        // A family that reads no objectness (classifiers, segmenters, SSD) leaves the mask unset.
        if (section.Mask != ImitationMask.None && options.ObjectnessMaskFrom is null)
            throw new SlimException($"{key}.mask: teacher_objectness takes the mask from a YOLO head's objectness, which this model family does not have; drop mask");
    }

    private RunReport Finish(string outDir, Recipe recipe, ITask task, List<StageReport> rows, Slim.Export.Int8DeploymentReport? deployment)
    {
        var report = new RunReport
        {
            Name = recipe.Name,
            Metric = task.MetricName,
            Stages = rows,
            LatencyThreads = recipe.Verify.Threads,
            LatencyRuns = recipe.Verify.Enabled ? recipe.Verify.LatencyRuns : 0,
            LatencyWarmup = recipe.Verify.WarmupRuns,
            Device = recipe.Device,
            Int8Deployment = deployment,
        };
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.json"), report.ToJson());
        var figures = ReportFigure.Find(outDir);
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.md"), report.ToMarkdown(figures));
        AtomicFile.WriteAllText(Path.Combine(outDir, HtmlReport.FileName), HtmlReport.Render(report, figures, outDir));
        return report;
    }

    /// <summary>A new run needs an empty (or absent) folder; --resume needs one this runner made.</summary>
    private static void PrepareFolder(string outDir, bool resume)
    {
        if (RunLock.HasContent(outDir))
        {
            if (!resume)
                throw new SlimException($"run folder '{outDir}' is not empty: pass --resume to continue that run, or choose another --out");
            if (!File.Exists(Path.Combine(outDir, "recipe.yml")))
                throw new SlimException($"run folder '{outDir}' was not made by slim run (no recipe.yml); choose another --out");
        }
        Directory.CreateDirectory(outDir);
    }

    private static string StageDir(string outDir, int index, string kind)
    {
        var dir = Path.Combine(outDir, "stages", $"{index:D2}_{kind}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>
    /// Runs a stage unless its result.json exists; writes the result atomically when it ends. Data-parallel, rank 0's
    /// folder decides, and a follower (<paramref name="rank0Out"/> set) receives a finished stage's result and models
    /// from rank 0, at the same places under its own <paramref name="outDir"/>.
    /// </summary>
    private StageOutcome RunOnce(string dir, Func<StageOutcome> run, string outDir, string? rank0Out)
    {
        var file = Path.Combine(dir, ResultFile);
        bool finished = File.Exists(file);
        if (_group is not null) finished = _group.BroadcastFlag(finished);
        if (finished)
        {
            var text = _group is null ? File.ReadAllText(file) : _group.BroadcastString(rank0Out is null ? File.ReadAllText(file) : null);
            var done = JsonSerializer.Deserialize<StageOutcome>(text, Json)
                       ?? throw new SlimException($"{file}: empty stage result");
            if (_group is not null)
            {
                // Rank 0 sends the stage's models; a follower keeps them at its own copy of the path.
                string Local(string path) => rank0Out is not null && path.StartsWith(rank0Out, StringComparison.Ordinal)
                    ? outDir + path[rank0Out.Length..] : path;
                foreach (var path in new[] { done.Checkpoint, done.QuantizationFile }.OfType<string>())
                    _group.BroadcastFile(path, Local(path));
                if (rank0Out is not null) done = done with { Checkpoint = Local(done.Checkpoint), QuantizationFile = done.QuantizationFile is { } q ? Local(q) : null };
            }
            _progress.Info($"{Path.GetFileName(dir)}: done before (resumed), skipping");
            return done;
        }
        var outcome = run();
        AtomicFile.WriteAllText(file, JsonSerializer.Serialize(outcome, Json));
        return outcome;
    }

    private static StageReport Row(StageOutcome o, Recipe recipe)
    {
        using (var loaded = ModelCheckpoint.Load(o.Checkpoint))
        {
            var options = loaded.Options;
            var stats = ModelStats.Compute(loaded.Model, new long[] { 1, options.InChannels, options.InputSize, options.InputSize }, x => loaded.Forward(x));
            return new StageReport
            {
                Stage = o.Stage,
                Detail = o.Detail,
                Gflops = stats.PaddleGFlops,
                Parameters = stats.Parameters,
                SizeMiB = stats.SizeMiB,
                Ap = o.Ap,
                Checkpoint = o.Checkpoint,
                Figures = o.Extra.Where(kv => double.IsFinite(kv.Value)).ToDictionary() is { Count: > 0 } figures ? figures : null,
            };
        }
    }

    // An exported model has the compute and parameters of the model it was exported from.
    private static IEnumerable<StageReport> VerifyRows(VerifyOutcome v, Recipe recipe, StageReport fp32Source, StageReport int8Source) =>
        v.Models.Select(m => new StageReport
        {
            Gflops = (m.Precision == "int8" ? int8Source : fp32Source).Gflops,
            Parameters = (m.Precision == "int8" ? int8Source : fp32Source).Parameters,
            Stage = $"onnx {m.Precision}",
            Detail = $"ONNX Runtime, {(m.Passed ? "within" : "OVER")} max drop {(recipe.Verify.Baseline.MaxDrop * 100).ToString("F2", CultureInfo.InvariantCulture)} pts",
            OrtAp = m.Ap,
            LatencyMs = m.LatencyMs,
            LatencyP10Ms = m.LatencyP10Ms,
            LatencyP90Ms = m.LatencyP90Ms,
            OnnxSizeMiB = m.SizeBytes / (1024.0 * 1024.0),
            Onnx = m.Path,
        });
}
