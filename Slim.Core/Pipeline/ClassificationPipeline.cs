using System.Globalization;
using System.Text.Json;
using Slim.Analysis;
using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Compression.Quantization;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Pipeline;

/// <summary>
/// The classification part of the model zoo: train a classifier on Fashion-MNIST, prune it
/// uniformly to a FLOPs target (−30%, −50%) and fine-tune, or quantize it to INT8 (post-training
/// calibration or quantization-aware fine-tuning), each step reporting top-1, GFLOPs, parameters
/// and size. <see cref="RunRecipe"/> runs a whole recipe (train → stages).
/// <para>
/// Recipe convention for uniform pruning: a prune stage with <c>pruned_params: ["*"]</c> and
/// <c>pruned_ratios: "flops:0.3"</c> prunes every prunable channel group by one ratio, found so that
/// the GFLOPs drop by that fraction. Other prune stages name their conv weights and ratios as
/// detection recipes do.
/// </para>
/// </summary>
public static class ClassificationPipeline
{
    /// <summary>The pruned_ratios prefix of a FLOPs target ("flops:0.3").</summary>
    public const string FlopsRatioPrefix = "flops:";

    /// <summary>File name of the pruned model before fine-tuning.</summary>
    public const string PrunedName = "pruned.ckpt";

    /// <summary>File name of a quant step's float twin (folded weights).</summary>
    public const string QuantizedName = "quant.ckpt";

    /// <summary>File name of a quant step's scales.</summary>
    public const string QuantizationFileName = "quant.json";

    /// <summary>
    /// Trains the recipe's classifier (from model.checkpoint when given) for train.iterations
    /// (or <paramref name="iterations"/>), resumable, and scores the best checkpoint (the last when
    /// no evaluation ran during training).
    /// </summary>
    public static ClassificationRun Train(Recipe recipe, ClassificationTask task, string outDir, IProgressSink? progress = null,
        CancellationToken cancel = default, bool resume = false, int? iterations = null)
    {
        progress ??= NullProgress.Instance;
        Directory.CreateDirectory(outDir);
        var m = recipe.Model;
        using var net = task.CreateModel(m);
        if (m.Checkpoint is not null) Trainer.LoadModel(m.Checkpoint, net);
        var options = task.ModelOptions(m);
        int its = iterations ?? recipe.Train.Iterations;
        var settings = TrainSettings.From(recipe.Train) with { Iterations = its, CheckpointInterval = Math.Max(10, its / 10) };
        var result = new Trainer(progress).Fit(net, settings, task.TrainBatches(settings.BatchSize), task.Loss(net),
            evaluate: recipe.Train.EvalInterval > 0 ? () => task.Evaluate(net.call) : null,
            checkpointDir: outDir, resume: resume, metadata: task.Metadata(m.Name, options), description: "train", cancel: cancel);
        var best = result.BestCheckpoint ?? result.LastCheckpoint!;
        if (result.BestCheckpoint is not null) Trainer.LoadModel(best, net);
        net.eval();
        double top1 = task.Evaluate(net.call);
        progress.Info(Line($"train: top-1 {top1 * 100:F2}% on {task.Test.Count} images ({best})"));
        string detail = m.Checkpoint is null ? $"train {its} it" : $"from {Path.GetFileName(m.Checkpoint)}, train {its} it";
        return new ClassificationRun("baseline", detail, best, m.Name, options, top1, Measure(net, options));
    }

    /// <summary>
    /// Prunes every prunable channel group of the checkpoint's model by one ratio, chosen so that
    /// the GFLOPs drop by <paramref name="targetFlopsReduction"/> (0-1, e.g. 0.3 or 0.5), removes the
    /// channels the criterion ranks lowest, and fine-tunes. The output checkpoint's metadata rebuilds
    /// the pruned model (<see cref="Load"/>).
    /// </summary>
    public static ClassificationRun UniformPrune(Recipe recipe, ClassificationTask task, string checkpoint, double targetFlopsReduction,
        FineTuneSection fineTune, string outDir, PruneCriterion criterion = PruneCriterion.L1Norm, IProgressSink? progress = null,
        CancellationToken cancel = default, bool resume = false)
    {
        if (!(targetFlopsReduction > 0 && targetFlopsReduction < 1))
            throw new SlimException(Line($"target FLOPs reduction {targetFlopsReduction}: must be a fraction in (0, 1), e.g. 0.3 for -30%"));
        return Prune(recipe, task, checkpoint, fineTune, outDir, criterion, progress, cancel, resume, graph =>
        {
            var uniform = UniformPruning.Search(graph, targetFlopsReduction);
            return (uniform.Targets, Line($"uniform {CriterionName(criterion)} r={uniform.Ratio:0.###} (-{targetFlopsReduction * 100:0.#}% FLOPs)"));
        });
    }

    /// <summary>
    /// Runs a recipe's prune section: uniform to a FLOPs target when pruned_params is ["*"] and
    /// pruned_ratios is "flops:X"; otherwise the named conv weights with the given ratios.
    /// </summary>
    public static ClassificationRun Prune(Recipe recipe, ClassificationTask task, string checkpoint, PruneSection section, string outDir,
        IProgressSink? progress = null, CancellationToken cancel = default, bool resume = false)
    {
        if (section.Sensitivity is not null)
            throw new SlimException("prune.sensitivity is not supported for classifiers: remove it and give pruned_ratios (e.g. \"flops:0.3\" with pruned_params [\"*\"])");
        if (section.Distill is not null)
            throw new SlimException("prune.distill is not supported for classifiers: remove it (distillation needs a detector)");
        var ratios = section.PrunedRatios.Trim();
        if (ratios.StartsWith(FlopsRatioPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var text = ratios[FlopsRatioPrefix.Length..].Trim();
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double target) || !(target > 0 && target < 1))
                throw new SlimException($"prune.pruned_ratios '{section.PrunedRatios}': the FLOPs target must be a fraction in (0, 1), e.g. \"flops:0.3\"");
            if (section.PrunedParams.Count != 1 || section.PrunedParams[0] != "*")
                throw new SlimException($"prune.pruned_ratios '{section.PrunedRatios}' prunes uniformly over every conv: set pruned_params to [\"*\"] " +
                    $"(it is [{string.Join(", ", section.PrunedParams)}])");
            return UniformPrune(recipe, task, checkpoint, target, section.FineTune, outDir, section.Criterion, progress, cancel, resume);
        }
        return Prune(recipe, task, checkpoint, section.FineTune, outDir, section.Criterion, progress, cancel, resume, graph =>
        {
            var targets = PruningRatios.Parse(string.Join(",", section.PrunedParams), section.PrunedRatios, graph);
            return (targets, $"{CriterionName(section.Criterion)} {targets.Count} params, ratios {section.PrunedRatios}");
        });
    }

    private static ClassificationRun Prune(Recipe recipe, ClassificationTask task, string checkpoint, FineTuneSection fineTune, string outDir,
        PruneCriterion criterion, IProgressSink? progress, CancellationToken cancel, bool resume,
        Func<ChannelDependencyGraph, (IReadOnlyList<PruneTarget> targets, string detail)> choose)
    {
        progress ??= NullProgress.Instance;
        Directory.CreateDirectory(outDir);
        var (net, arch, options) = Load(checkpoint);
        using var owned = net;
        var before = ChannelCounts.FromModel(net);
        PruningPlan plan;
        string detail;
        using (var scope = NewDisposeScope())
        {
            var graph = ChannelDependencyGraph.Build(net, task.SampleInput());
            var (targets, d) = choose(graph);
            detail = d;
            plan = new Pruner(graph, ChannelImportanceRegistry.Get(CriterionName(criterion))).Plan(net, targets);
            Pruner.Apply(net, plan);
        }
        var after = ChannelCounts.FromModel(net);
        // Only the convs pruning changed go into the overrides: the metadata stays short and readable.
        var overrides = new Dictionary<string, int>(options.ChannelOverrides);
        foreach (var (path, c) in after.OutChannels)
            if (before.OutChannels[path] != c) overrides[path] = checked((int)c);
        var pruned = options with { ChannelOverrides = overrides };
        var meta = Metadata(checkpoint, arch, pruned);
        net.eval();
        double top1Pruned = task.Evaluate(net.call);
        SaveModel(Path.Combine(outDir, PrunedName), net, meta);
        progress.Info(Line($"prune: {detail}: MACs -{plan.MacsReduction * 100:F1}%, top-1 {top1Pruned * 100:F2}% before fine-tuning"));

        string output = Path.Combine(outDir, PrunedName);
        double top1 = top1Pruned;
        if (fineTune.Iterations > 0)
        {
            var settings = TrainSettings.From(recipe.Train, fineTune) with { CheckpointInterval = Math.Max(10, fineTune.Iterations / 10) };
            var result = new Trainer(progress).Fit(net, settings, task.TrainBatches(settings.BatchSize, seedOffset: 1), task.Loss(net),
                evaluate: settings.EvalInterval > 0 ? () => task.Evaluate(net.call) : null,
                checkpointDir: outDir, resume: resume, metadata: meta, description: "prune fine-tune", cancel: cancel);
            output = result.BestCheckpoint ?? result.LastCheckpoint!;
            if (result.BestCheckpoint is not null) Trainer.LoadModel(output, net);
            net.eval();
            top1 = task.Evaluate(net.call);
            detail += $", fine-tune {fineTune.Iterations} it";
            progress.Info(Line($"prune: top-1 {top1 * 100:F2}% after fine-tuning ({output})"));
        }
        return new ClassificationRun("prune", detail, output, arch, pruned, top1, Measure(net, pruned))
        {
            Extra = new Dictionary<string, double> { ["top1_before_fine_tune"] = top1Pruned, ["macs_reduction"] = plan.MacsReduction },
        };
    }

    /// <summary>
    /// Quantizes the checkpoint's classifier to INT8 (weights per channel, inputs per tensor):
    /// post-training calibration with quant.algo, or quantization-aware fine-tuning (BN statistics
    /// frozen after quant.freeze_bn_at of it). Returns the top-1 of the fake-quantized model; writes the
    /// float twin (BN folded into the weights, same architecture, <see cref="QuantizedName"/>) and
    /// every quantized layer's scales (<see cref="QuantizationFileName"/>).
    /// </summary>
    public static ClassificationRun Quantize(Recipe recipe, ClassificationTask task, string checkpoint, QuantSection section, string outDir,
        IProgressSink? progress = null, CancellationToken cancel = default, bool resume = false)
    {
        progress ??= NullProgress.Instance;
        Directory.CreateDirectory(outDir);
        var (net, arch, options) = Load(checkpoint);
        using var owned = net;
        double top1Float = task.Evaluate(net.call);
        var floatFigures = Measure(net, options);
        var quantOptions = QuantStage.Options(section);
        IEnumerable<Tensor> Forward(Tensor x) => new[] { net.call(x) };
        QuantizationResult result;
        QuantizationPlan plan;
        string detail;
        if (section.Mode == QuantMode.Post)
        {
            (plan, result) = PostTrainingQuantizer.Run(net, quantOptions, Forward, task.CalibrationImages(section.CalibrationBatches, recipe.Train.BatchSize));
            net.eval();
            detail = $"post {QuantizationResult.AlgorithmName(section.Algo)}, {section.CalibrationBatches} calibration batches";
        }
        else
        {
            using (var scope = NewDisposeScope())
                plan = AwareQuantizer.Prepare(net, quantOptions, Forward, task.SampleInput());
            var settings = TrainSettings.From(recipe.Train, section.FineTune) with { CheckpointInterval = Math.Max(10, section.FineTune.Iterations / 10) };
            long freezeAt = (long)Math.Round(section.FreezeBnAt * settings.Iterations);
            // The trainer does not pass the iteration to the loss; count from where a resumed run starts.
            string last = Path.Combine(outDir, Trainer.LastName);
            long step = resume && File.Exists(last)
                ? long.Parse(Checkpoint.ReadMetadata(last).GetValueOrDefault("train.iteration", "0"), CultureInfo.InvariantCulture)
                : 0;
            bool frozen = false;
            var loss = task.Loss(net);
            if (settings.Iterations > 0)
                new Trainer(progress).Fit(net, settings, task.TrainBatches(settings.BatchSize, seedOffset: 2), batch =>
                {
                    if (!frozen && step >= freezeAt)
                    {
                        AwareQuantizer.FreezeBatchNorm(net);
                        frozen = true;
                    }
                    step++;
                    return loss(batch);
                }, checkpointDir: outDir, resume: resume, metadata: Metadata(checkpoint, arch, options), description: "quant-aware fine-tune", cancel: cancel);
            else
                CalibrateObservers(net, task, section, recipe.Train.BatchSize);
            result = QuantizationResult.ToFakeQuant(net, QuantMode.Aware);
            detail = $"aware, fine-tune {settings.Iterations} it";
        }
        double top1 = task.Evaluate(net.call);
        progress.Info(Line($"quant: top-1 {top1 * 100:F2}% (fake-quantized) vs {top1Float * 100:F2}% float; {result.Layers.Count} layers INT8"));

        string twinPath = Path.Combine(outDir, QuantizedName);
        using (var twin = FloatTwin(checkpoint, result))
        {
            var meta = Metadata(checkpoint, arch, options);
            meta["quant.mode"] = section.Mode == QuantMode.Post ? "post" : "aware";
            meta["quant.activation_algorithm"] = result.ActivationAlgorithm;
            SaveModel(twinPath, twin, meta);
        }
        string quantFile = Path.Combine(outDir, QuantizationFileName);
        // The same file the detection quant stage writes, so `slim export` and QuantStage read it too.
        QuantFile.Write(quantFile, result, plan, quantOptions, QuantizedName);
        var figures = new ClassifierFigures(floatFigures.Gflops, floatFigures.Parameters, Int8SizeMiB(checkpoint, result));
        return new ClassificationRun("quant", detail, twinPath, arch, options, top1, figures)
        {
            Extra = new Dictionary<string, double> { ["top1_float"] = top1Float, ["quantized_layers"] = result.Layers.Count },
            QuantizationFile = quantFile,
        };
    }

    // With no fine-tuning, aware mode still needs input ranges: run the observers over calibration batches in training mode
    // (BN statistics frozen first so the forward passes do not move them).
    private static void CalibrateObservers(nn.Module net, ClassificationTask task, QuantSection section, int batchSize)
    {
        AwareQuantizer.FreezeBatchNorm(net);
        net.train();
        using var _ = no_grad();
        foreach (var images in task.CalibrationImages(section.CalibrationBatches, batchSize))
            using (NewDisposeScope())
                ((nn.Module<Tensor, Tensor>)net).call(images);
        net.eval();
    }

    /// <summary>
    /// Runs a classification recipe into <paramref name="outDir"/>: the baseline (folder
    /// <c>baseline</c>), then each stage in order (folders <c>01_prune</c>, <c>02_quant</c> …), each
    /// starting from the previous stage's model; writes report.json and report.md and returns the rows.
    /// </summary>
    public static IReadOnlyList<StageReport> RunRecipe(Recipe recipe, string outDir, IProgressSink progress, CancellationToken cancel,
        ClassificationTaskOptions? taskOptions = null, bool resume = false)
    {
        for (int i = 0; i < recipe.Stages.Count; i++)
            if (recipe.Stages[i].Distill is not null)
                throw new SlimException($"stages[{i}]: distill is for detectors; classification recipes take prune and quant stages");
        Runtime.Configure(recipe);
        Directory.CreateDirectory(outDir);
        var task = ClassificationTask.Create(recipe, taskOptions, progress.Info);
        var runs = new List<ClassificationRun> { Train(recipe, task, Path.Combine(outDir, "baseline"), progress, cancel, resume) };
        for (int i = 0; i < recipe.Stages.Count; i++)
        {
            var stage = recipe.Stages[i];
            string dir = Path.Combine(outDir, $"{i + 1:D2}_{stage.Kind}");
            string from = runs[^1].Checkpoint;
            runs.Add(stage.Prune is not null
                ? Prune(recipe, task, from, stage.Prune, dir, progress, cancel, resume)
                : Quantize(recipe, task, from, stage.Quant!, dir, progress, cancel, resume));
        }
        var rows = runs.Select(r => r.ToReport()).ToList();
        var report = new RunReport { Name = recipe.Name, Metric = task.MetricName, Stages = rows, Device = recipe.Device };
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.json"), report.ToJson());
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.md"), report.ToMarkdown());
        return rows;
    }

    /// <summary>Rebuilds a classifier from a checkpoint's metadata (pruned channel counts included), loads its weights, eval mode.</summary>
    public static (ImageClassifier Model, string Architecture, ModelOptions Options) Load(string checkpoint)
    {
        if (!File.Exists(checkpoint)) throw new SlimException($"checkpoint '{checkpoint}' does not exist");
        var meta = Checkpoint.ReadMetadata(checkpoint);
        if (!meta.ContainsKey(ModelOptions.MetadataPrefix + "architecture"))
            throw new CheckpointException($"{checkpoint}: the checkpoint does not record its model (no model.architecture metadata)");
        var (arch, options) = ModelOptions.FromMetadata(meta);
        if (ModelRegistry.TaskOf(arch) != ModelTask.Classification)
            throw new SlimException($"{checkpoint}: holds a {arch} detector, not a classifier");
        var model = ModelRegistry.CreateClassifier(arch, options);
        try
        {
            Trainer.LoadModel(checkpoint, model);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return (model, arch, options);
    }

    /// <summary>GFLOPs (PaddleSlim's conv + fc MACs / 2^30), parameters and float32 size at the model's input size, batch 1.</summary>
    public static ClassifierFigures Measure(ImageClassifier model, ModelOptions options)
    {
        var stats = ModelStats.Compute(model, new long[] { 1, options.InChannels, options.InputSize, options.InputSize });
        return new ClassifierFigures(stats.PaddleGFlops, stats.Parameters, stats.SizeMiB);
    }

    /// <summary>The criterion's registry name ("l1_norm", "geometry_median", "bn_scale").</summary>
    public static string CriterionName(PruneCriterion criterion) => criterion switch
    {
        PruneCriterion.L1Norm => "l1_norm",
        PruneCriterion.GeometryMedian => "geometry_median",
        PruneCriterion.BnScale => "bn_scale",
        _ => throw new ArgumentOutOfRangeException(nameof(criterion), criterion, null),
    };

    // The source checkpoint's metadata (class names and the like) with the model keys of options.
    private static Dictionary<string, string> Metadata(string source, string arch, ModelOptions options)
    {
        var meta = Checkpoint.ReadMetadata(source)
            .Where(kv => !kv.Key.StartsWith(ModelOptions.MetadataPrefix, StringComparison.Ordinal) && !kv.Key.StartsWith("train.", StringComparison.Ordinal)
                && !kv.Key.StartsWith("quant.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        foreach (var (k, v) in options.ToMetadata(arch)) meta[k] = v;
        return meta;
    }

    private static void SaveModel(string path, nn.Module model, IReadOnlyDictionary<string, string> metadata) =>
        Checkpoint.Save(path, model.state_dict(), metadata);

    /// <summary>
    /// The float model the quantized one approximates, in the original architecture: each quantized
    /// layer's folded weight and bias written into its conv/linear, and each folded BN set to the
    /// identity plus the folded bias (scale 1, mean 0, var 1 − eps), so the model loads with
    /// <see cref="Load"/> and an INT8 exporter finds the weights the scales belong to.
    /// </summary>
    private static ImageClassifier FloatTwin(string checkpoint, QuantizationResult result)
    {
        var (twin, _, _) = Load(checkpoint);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var layer in result.Layers)
        {
            var folded = result.Folded(layer.ModulePath);
            twin.get_parameter(layer.WeightParameter).copy_(tensor(folded.Weight, folded.Shape));
            if (folded.Bias is null) continue;
            var bias = tensor(folded.Bias, folded.Bias.Length);
            if (layer.FoldedBatchNorm is not null)
            {
                var bn = (BatchNorm2d)twin.get_submodule(layer.FoldedBatchNorm);
                bn.weight.fill_(1.0);
                bn.bias.copy_(bias);
                bn.running_mean.zero_();
                bn.running_var.fill_(1.0 - bn.eps);
            }
            else if (layer.BiasParameter is not null)
            {
                twin.get_parameter(layer.BiasParameter).copy_(bias);
            }
            else
            {
                throw new QuantizationException($"'{layer.ModulePath}': the quantized layer has a folded bias but neither a BN nor a bias parameter to hold it");
            }
        }
        return twin;
    }

    // What the INT8 model stores: 1 byte per weight of a quantized layer plus a float scale per output channel and one per input;
    // float32 for the rest, with folded BNs gone (their shift is the layer's bias).
    private static double Int8SizeMiB(string checkpoint, QuantizationResult result)
    {
        var (model, _, _) = Load(checkpoint);
        using var owned = model;
        var quantized = result.Layers.ToDictionary(l => l.WeightParameter);
        var folded = result.Layers.Where(l => l.FoldedBatchNorm is not null).Select(l => l.FoldedBatchNorm! + ".").ToList();
        double bytes = 0;
        foreach (var (name, t) in model.named_parameters().Select(p => (p.name, p.parameter))
                     .Concat(model.named_buffers().Where(b => b.buffer.dtype.IsFloatingPoint()).Select(b => (b.name, b.buffer))))
        {
            if (folded.Any(p => name.StartsWith(p, StringComparison.Ordinal))) continue;
            if (quantized.TryGetValue(name, out var layer))
                bytes += t.numel() + 4.0 * (layer.WeightScales.Length + 1) + 4.0 * (result.Folded(layer.ModulePath).Bias?.Length ?? 0) * (layer.BiasParameter is null ? 1 : 0);
            else
                bytes += 4.0 * t.numel();
        }
        return bytes / (1024 * 1024);
    }

    private static string Line(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
