using Slim.Compression.Pruning;
using Slim.Models;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pipeline;

/// <summary>The prune stage end to end on a tiny detector and generated data.</summary>
public class PruneStageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-prune-stage-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private Recipe TinyRecipe(string stage) => RecipeLoader.Parse<Recipe>(TinyRecipeText(stage));

    private string TinyRecipeText(string stage) => $$"""
        name: tiny-prune
        seed: 3
        model: {name: yolov3_mobilenet_v1, width: 0.25, input_size: 64}
        dataset:
          format: synthetic
          root: {{_dir}}/data
          generate: {train_images: 16, val_images: 8, image_size: 96, seed: 0}
          workers: 0
        train: {iterations: 5, batch_size: 4, lr: 0.001, warmup_steps: 2, augment: false}
        stages:
          - prune:
        {{stage}}
        """;

    private (DetectionTask task, string checkpoint) Baseline(Recipe recipe)
    {
        var task = DetectionTask.Create(recipe);
        var run = TrainStage.Run(task, Path.Combine(_dir, "train"), false, NullProgress.Instance, default);
        return (task, run.Checkpoint);
    }

    private sealed class Lines : IProgressSink
    {
        public List<string> All { get; } = new();
        public IProgressTask Start(string description, long total) => new Task();
        public void Info(string message) => All.Add(message);
        private sealed class Task : IProgressTask
        {
            public void Report(long done, string status) { }
            public void Dispose() { }
        }
    }

    [Fact]
    public void PrunesR578FineTunesAndSavesARebuildableCheckpoint()
    {
        var recipe = TinyRecipe("""
                  pruned_ratios: r578
                  fine_tune: {iterations: 5}
            """);
        var (task, baseline) = Baseline(recipe);
        var stageDir = Directory.CreateDirectory(Path.Combine(_dir, "prune")).FullName;
        var lines = new Lines();
        var ctx = new StageContext(recipe, task, stageDir, false, lines, default);
        var outcome = PruneStage.Run(ctx, new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!);

        Assert.Equal("prune", outcome.Stage);
        Assert.Equal("r578 l1_norm, fine-tune 5 it", outcome.Detail);
        foreach (var f in new[] { PruneStage.PrunedName, PruneStage.ModelName, Trainer.LastName, PruneStage.LayersName })
            Assert.True(File.Exists(Path.Combine(stageDir, f)), $"{f} missing");
        Assert.Equal(Path.Combine(stageDir, PruneStage.ModelName), outcome.Checkpoint);
        foreach (var k in new[] { "ap_before", "ap_after_prune", "ap_after_finetune", "gflops_before", "gflops_after" })
            Assert.True(outcome.Extra.ContainsKey(k), $"Extra lacks {k}");
        Assert.True(outcome.Extra["gflops_after"] < outcome.Extra["gflops_before"]);
        Assert.Equal(outcome.Ap, outcome.Extra["ap_after_finetune"]);
        Assert.Contains(lines.All, l => l.Contains("yolo_block.0.0.0.conv") && l.Contains("→"));

        // The saved checkpoint alone rebuilds the pruned model: r578 halves block 0 and keeps 30% of block 1.
        var (full, _, fullOptions) = TestCheckpoints.Load(baseline);
        using var fullModel = full;
        var (model, arch, options) = TestCheckpoints.Load(outcome.Checkpoint);
        using (model)
        {
            Assert.Equal("yolov3_mobilenet_v1", arch);
            long c0 = ((Conv2d)full.get_submodule("yolo_block.0.0.0.conv")).out_channels;
            Assert.Equal(c0 - PruningRatios.ChannelsToRemove((int)c0, 0.5), ((Conv2d)model.get_submodule("yolo_block.0.0.0.conv")).out_channels);
            long c1 = ((Conv2d)full.get_submodule("yolo_block.1.tip.conv")).out_channels;
            Assert.Equal(c1 - PruningRatios.ChannelsToRemove((int)c1, 0.7), ((Conv2d)model.get_submodule("yolo_block.1.tip.conv")).out_channels);
            Assert.Equal(18, options.ChannelOverrides.Count);
            Assert.Empty(fullOptions.ChannelOverrides);
            // Same weights, same AP as the stage measured on its in-memory model.
            Assert.Equal(outcome.Ap, task.Evaluate(model.call).Primary, 12);
            var meta = Checkpoint.ReadMetadata(outcome.Checkpoint);
            Assert.Equal("l1_norm", meta[PruneModel.CriterionKey]);
            Assert.Equal(string.Join(",", RatioPresets.YoloHeadParameters), meta[PruneModel.ParamsKey]);
            Assert.True(meta.ContainsKey("dataset.class_names"));
        }
    }

    [Fact]
    public void SavedPrunedCheckpointReloadsToIdenticalOutputs()
    {
        long live = Tensor.LiveCount;
        var path = Path.Combine(_dir, "p.ckpt");
        using (var scope = NewDisposeScope())
        {
            var options = new ModelOptions { NumClasses = 3, Width = 0.25, InputSize = 64 };
            manual_seed(4);
            using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v1", options);
            var graph = PruneModel.Graph(model, options);
            var targets = PruneModel.Targets(graph, "yolo_block.*,backbone.conv4_1.pw.conv.weights", "0.4");
            var result = PruneModel.Apply(model, options, graph, targets, "geometry_median");
            PruneModel.Save(path, model, PruneModel.Metadata("yolov3_mobilenet_v1", result, "geometry_median"));

            var (loaded, _, loadedOptions) = TestCheckpoints.Load(path);
            using (loaded)
            {
                Assert.Equal(result.Options, loadedOptions);
                model.eval();
                var x = randn(new long[] { 1, 3, 64, 64 }, new Generator(2));
                using var _ = no_grad();
                var a = model.call(x);
                var b = loaded.call(x);
                for (int i = 0; i < 3; i++) Assert.Equal(0f, (a[i] - b[i]).abs().max().item<float>());
            }
        }
        Assert.Equal(live, Tensor.LiveCount);
    }

    [Fact]
    public void DistilledFineTuneFromTheUnprunedModel()
    {
        var recipe = TinyRecipe("""
                  pruned_params: ['yolo_block.0.*', 'yolo_block.1.*']
                  pruned_ratios: '0.5'
                  criterion: bn_scale
                  fine_tune: {iterations: 3}
                  distill: {type: split_distill, weight: 0.5}
            """);
        var (task, baseline) = Baseline(recipe);
        var stageDir = Directory.CreateDirectory(Path.Combine(_dir, "prune-distill")).FullName;
        var ctx = new StageContext(recipe, task, stageDir, false, NullProgress.Instance, default);
        var outcome = PruneStage.Run(ctx, new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!);
        Assert.Equal("12 params bn_scale, fine-tune 3 it (+split_distill)", outcome.Detail);
        var (model, _, options) = TestCheckpoints.Load(outcome.Checkpoint);
        using (model)
        {
            Assert.Equal(12, options.ChannelOverrides.Count);
            Assert.Equal(outcome.Ap, task.Evaluate(model.call).Primary, 12);
        }
        // The fine-tune changed the weights the pruning left.
        var (pruned, _, _) = TestCheckpoints.Load(Path.Combine(stageDir, PruneStage.PrunedName));
        using (pruned)
        using (var scope = NewDisposeScope())
        {
            var (m2, _, _) = TestCheckpoints.Load(outcome.Checkpoint);
            using (m2)
                Assert.True((pruned.get_parameter("yolo_block.0.0.0.conv.weights") - m2.get_parameter("yolo_block.0.0.0.conv.weights")).abs().max().item<float>() > 0);
        }
    }

    [Fact]
    public void ADistilledFineTuneFeedsATeacherOnOtherStatisticsWithThem()
    {
        var recipe = TinyRecipe("""
                  pruned_params: ['yolo_block.0.*']
                  pruned_ratios: '0.5'
                  fine_tune: {iterations: 2}
                  distill: {type: split_distill, weight: 0.5}
            """);
        var (task, baseline) = Baseline(recipe);
        // The baseline's weights, recorded as trained on other input statistics.
        var teacher = Path.Combine(_dir, "teacher-other-statistics.ckpt");
        var (tensors, meta) = Checkpoint.Load(baseline);
        foreach (var (k, v) in Slim.Tasks.ExportModelInfo.NormalizationMetadata(new[] { 0.2f, 0.3f, 0.4f }, new[] { 0.5f, 0.6f, 0.7f })) meta[k] = v;
        Checkpoint.Save(teacher, tensors, meta);
        foreach (var t in tensors.Values) t.Dispose();
        recipe.Stages[0].Prune!.Distill!.Teacher = teacher;
        var lines = new Lines();
        var stageDir = Directory.CreateDirectory(Path.Combine(_dir, "prune-distill-other-statistics")).FullName;
        PruneStage.Run(new StageContext(recipe, task, stageDir, false, lines, default), new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!);
        Assert.Contains(lines.All, l => l.StartsWith("prune: the teacher", StringComparison.Ordinal) && l.Contains("renormalized", StringComparison.Ordinal)
                                         && l.Contains("→ mean 0.2, 0.3, 0.4, std 0.5, 0.6, 0.7", StringComparison.Ordinal));
    }

    [Fact]
    public void ADistilledFineTuneCanFitItsL2AdaptersByLeastSquares()
    {
        // Pruning halves the tips of blocks 0 and 1: their l2 pairs need adapters, fitted before the fine-tune.
        var recipe = TinyRecipe("""
                  pruned_params: ['yolo_block.0.*', 'yolo_block.1.*']
                  pruned_ratios: '0.5'
                  fine_tune: {iterations: 2}
                  distill: {type: l2_distill, weight: 1, adapter_init: least_squares, adapter_fit_batches: 2}
            """);
        var (task, baseline) = Baseline(recipe);
        var lines = new Lines();
        var stageDir = Directory.CreateDirectory(Path.Combine(_dir, "prune-distill-least-squares")).FullName;
        var outcome = PruneStage.Run(new StageContext(recipe, task, stageDir, false, lines, default), new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!);
        Assert.Equal(new[] { "yolo_block.0.tip:yolo_block.0.tip", "yolo_block.1.tip:yolo_block.1.tip" },
            lines.All.Where(l => l.StartsWith("prune: adapter ", StringComparison.Ordinal) && l.Contains("fitted by least squares", StringComparison.Ordinal))
                .Select(l => l.Split(' ')[2]));
        Assert.EndsWith("(+l2_distill)", outcome.Detail);
    }

    [Fact]
    public void SensitivityChoosesTheRatiosAndRecordsThem()
    {
        var recipe = TinyRecipe("""
                  pruned_params: [yolo_block.0.0.0.conv.weights, yolo_block.2.tip.conv.weights]
                  pruned_ratios: 'not used when the curves choose'
                  sensitivity: {ratios: [0.3, 0.6], val_images: 4, max_loss: 0.5}
            """);
        var (task, baseline) = Baseline(recipe);
        var stageDir = Directory.CreateDirectory(Path.Combine(_dir, "prune-sens")).FullName;
        var lines = new Lines();
        var ctx = new StageContext(recipe, task, stageDir, false, lines, default);
        var outcome = PruneStage.Run(ctx, new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!);

        Assert.Equal("sensitivity max loss 50 pts l1_norm", outcome.Detail);
        foreach (var f in new[] { PruneSensitivity.JsonName, PruneSensitivity.PngName, PruneSensitivity.TableName, PruneSensitivity.ChosenName })
            Assert.True(File.Exists(Path.Combine(stageDir, f)), $"{f} missing");
        Assert.Equal(4, Slim.Compression.Pruning.Sensitivity.SensitivityResult.Load(Path.Combine(stageDir, PruneSensitivity.JsonName)).Points.Count);
        // No fine-tune asked: the figures after fine-tuning are those right after pruning.
        Assert.Equal(outcome.Extra["ap_after_prune"], outcome.Extra["ap_after_finetune"]);
        Assert.False(File.Exists(Path.Combine(stageDir, Trainer.LastName)));
        // The chosen list is printed and recorded in --pruned_ratios form, and it is what the checkpoint was pruned with.
        var chosen = File.ReadAllLines(Path.Combine(stageDir, PruneSensitivity.ChosenName)).Last();
        Assert.Contains(lines.All, l => l.Contains(chosen));
        var meta = Checkpoint.ReadMetadata(outcome.Checkpoint);
        Assert.Equal($"--pruned_params {meta[PruneModel.ParamsKey]} --pruned_ratios {meta[PruneModel.RatiosKey]}", chosen);
        Assert.Equal("yolo_block.0.0.0.conv.weights,yolo_block.2.tip.conv.weights", meta[PruneModel.ParamsKey]);
    }

    [Fact]
    public void LatencyTargetChoosesRatiosTimedInOnnxRuntimeAndResumesThem()
    {
        var recipe = TinyRecipe("""
                  pruned_params: "yolo_block.*.conv.weights"
                  sensitivity: {ratios: [0.3, 0.6], val_images: 4, target_latency_reduction: 0.2}
            """);
        var (task, baseline) = Baseline(recipe);
        var stageDir = Directory.CreateDirectory(Path.Combine(_dir, "prune-latency")).FullName;
        var lines = new Lines();
        var outcome = PruneStage.Run(new StageContext(recipe, task, stageDir, false, lines, default), new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!);

        Assert.StartsWith("sensitivity -20% latency (predicted -", outcome.Detail);
        foreach (var f in new[] { PruneLatency.TableName, PruneLatency.ChoiceName, PruneLatency.ReportName, PruneSensitivity.ChosenName })
            Assert.True(File.Exists(Path.Combine(stageDir, f)), $"{f} missing");
        var choice = PruneLatency.ReadChoice(Path.Combine(stageDir, PruneLatency.ChoiceName));
        Assert.Equal("measured here", choice.TableSource);
        Assert.InRange(choice.Rounds.Count, 1, PruneLatency.MaxRounds);
        // The kept round is the one measured closest to the target; fewer rounds than allowed only when one met it (or
        // when timings noisy enough asked for a correction beyond the measured ratios).
        Assert.All(choice.Rounds, r => Assert.True(Math.Abs(choice.Chosen.MeasuredReduction - 0.2) <= Math.Abs(r.MeasuredReduction - 0.2)));
        if (choice.Ended == PruneLatency.EndedOnTarget)
            Assert.InRange(choice.Rounds[^1].MeasuredReduction, 0.2 - PruneLatency.Tolerance, 0.2 + PruneLatency.Tolerance);
        if (choice.Rounds.Count < PruneLatency.MaxRounds)
        {
            Assert.Contains(choice.Ended, new[] { PruneLatency.EndedOnTarget, PruneLatency.EndedBeyondReach });
            if (choice.Ended == PruneLatency.EndedBeyondReach) Assert.Contains(lines.All, l => l.Contains("is beyond the measured ratios"));
        }
        else Assert.NotEqual(PruneLatency.EndedBeyondReach, choice.Ended);
        // The first round asks the model for the target itself, and its prediction reaches it.
        Assert.Equal(0.2, choice.Rounds[0].Asked, 12);
        Assert.True(1 - choice.Rounds[0].PredictedMs / choice.TableMs >= 0.2 - 1e-9);
        Assert.Equal(choice.Chosen.PredictedMs, outcome.Extra["latency_predicted_ms"], 9);
        Assert.Equal(choice.Chosen.MeasuredMs, outcome.Extra["latency_pruned_ms"], 9);
        // The report names every round and the checkpoint was pruned with the chosen ratios.
        var report = File.ReadAllText(Path.Combine(stageDir, PruneLatency.ReportName));
        Assert.Contains("predicted ms", report);
        var meta = Checkpoint.ReadMetadata(outcome.Checkpoint);
        Assert.Equal(Slim.Compression.Pruning.PruningRatios.Format(choice.Chosen.Ratios), meta[PruneModel.RatiosKey]);
        Assert.Contains(lines.All, l => l.Contains("latency: round 1:"));

        // A resumed stage takes the saved choice, not new timings.
        var again = new Lines();
        var resumed = PruneStage.Run(new StageContext(recipe, task, stageDir, true, again, default), new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!);
        Assert.Contains(again.All, l => l.StartsWith("latency: resuming with the ratios chosen before", StringComparison.Ordinal));
        Assert.DoesNotContain(again.All, l => l.Contains("latency: round"));
        Assert.Equal(meta[PruneModel.RatiosKey], Checkpoint.ReadMetadata(resumed.Checkpoint)[PruneModel.RatiosKey]);
    }

    [Fact]
    public void TravelledLatencyTableIsUsedAsItIs()
    {
        // A table from "another machine" where one conv takes nearly all the time: the ratios cut that conv first.
        var slow = "yolo_block.0.0.0.conv";
        var tablePath = Path.Combine(_dir, "table.json");
        File.WriteAllText(tablePath, new Slim.Export.LayerLatencyTable
        {
            Model = "model_fp32.onnx", Threads = 4, Warmup = 5, Runs = 20, MedianMs = 110,
            Layers = new[] { new Slim.Export.LayerTime(slow, "Conv", 100), new Slim.Export.LayerTime("(other)", "Concat", 5) },
            Machine = "target board",
        }.ToJson());
        var recipe = TinyRecipe($$"""
                  pruned_params: "yolo_block.*.conv.weights"
                  sensitivity: {ratios: [0.3, 0.6], val_images: 4, target_latency_reduction: 0.2, latency_table: '{{tablePath}}'}
            """);
        var (task, baseline) = Baseline(recipe);
        var stageDir = Directory.CreateDirectory(Path.Combine(_dir, "prune-travelled")).FullName;
        var outcome = PruneStage.Run(new StageContext(recipe, task, stageDir, false, NullProgress.Instance, default), new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!);
        var choice = PruneLatency.ReadChoice(Path.Combine(stageDir, PruneLatency.ChoiceName));
        Assert.Equal(tablePath, choice.TableSource);
        Assert.Single(choice.Rounds); // timings here say nothing about the target machine: no correction
        Assert.Equal(PruneLatency.EndedTravelled, choice.Ended);
        Assert.Equal(110, choice.TableMs, 9);
        var meta = Checkpoint.ReadMetadata(outcome.Checkpoint);
        var ratios = meta[PruneModel.ParamsKey].Split(',').Zip(meta[PruneModel.RatiosKey].Split(',')).ToDictionary(p => p.First, p => double.Parse(p.Second, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(ratios[slow + ".weights"] > 0, meta[PruneModel.RatiosKey]);
        // 20 % of 110 ms is 22 ms: more than a third of the slow conv's output channels (or its input's) go.
        Assert.True(choice.Chosen.PredictedMs <= 88 + 1e-9, $"{choice.Chosen.PredictedMs}");

        // A table of another model names none of this one's convs.
        File.WriteAllText(tablePath, new Slim.Export.LayerLatencyTable
        {
            Model = "other.onnx", Threads = 1, Warmup = 5, Runs = 20, MedianMs = 10, Layers = new[] { new Slim.Export.LayerTime("features.0", "Conv", 9) },
        }.ToJson());
        var e = Assert.Throws<SlimException>(() => PruneStage.Run(new StageContext(recipe, task, Directory.CreateDirectory(Path.Combine(_dir, "prune-other")).FullName,
            false, NullProgress.Instance, default), new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!));
        Assert.Contains("names none of the model's conv layers", e.Message);
    }

    [Fact]
    public void FallbackHalvesTheMostSensitiveRatiosAndKeepsTheBestTry()
    {
        // A floor no try can reach (baseline 90 %), so every try runs and the best is kept.
        var recipe = RecipeLoader.Parse<Recipe>(TinyRecipeText("""
                  pruned_params: "yolo_block.*.conv.weights"
                  pruned_ratios: 0.8
                  sensitivity: {ratios: [0.4, 0.8], val_images: 4}
                  fine_tune: {iterations: 2}
            """) + "\nverify: {baseline: {ap: 0.9, max_drop: 0.01, on_fail: fallback, max_prune_tries: 2}}\n");
        var (task, baseline) = Baseline(recipe);
        var stageDir = Directory.CreateDirectory(Path.Combine(_dir, "prune-fallback")).FullName;
        var lines = new Lines();
        var outcome = PruneStage.Run(new StageContext(recipe, task, stageDir, false, lines, default), new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!);

        var fallback = PruneStage.ReadFallback(Path.Combine(stageDir, PruneStage.FallbackName));
        Assert.Equal(3, fallback.Tries.Count);
        Assert.False(fallback.Passed);
        Assert.All(fallback.Tries[0].Targets, t => Assert.Equal(0.8, t.Ratio));
        for (int k = 1; k < 3; k++)
        {
            var (before, after) = (fallback.Tries[k - 1].Targets, fallback.Tries[k].Targets);
            Assert.All(before.Zip(after), p => Assert.True(p.Second.Ratio <= p.First.Ratio));
            Assert.Contains(before.Zip(after), p => p.Second.Ratio < p.First.Ratio);
            Assert.True(File.Exists(Path.Combine(stageDir, PruneStage.FallbackPrefix + k, PruneStage.ModelName)));
        }
        // The stage's model is the kept try's, scored as recorded, with its ratios in the metadata.
        var kept = fallback.Kept;
        Assert.Equal(fallback.Tries.Max(t => t.Metric), kept.Metric);
        Assert.Equal(kept.Metric, outcome.Ap);
        Assert.Equal(Slim.Compression.Pruning.PruningRatios.Format(kept.Targets.Select(t => t.Ratio)),
            Checkpoint.ReadMetadata(outcome.Checkpoint)[PruneModel.RatiosKey]);
        Assert.Contains($"fallback: try {fallback.KeptTry} of 2 kept (best, none passed)", outcome.Detail);
        Assert.Contains(lines.All, l => l.StartsWith("prune fallback: try 2:", StringComparison.Ordinal));
    }

    [Fact]
    public void BadRatioListFailsBeforeAnyOutput()
    {
        var recipe = TinyRecipe("""
                  pruned_ratios: 0.5,0.2
            """);
        var (task, baseline) = Baseline(recipe);
        var stageDir = Directory.CreateDirectory(Path.Combine(_dir, "prune-bad")).FullName;
        var ctx = new StageContext(recipe, task, stageDir, false, NullProgress.Instance, default);
        var e = Assert.Throws<PruningException>(() => PruneStage.Run(ctx, new StageInput(baseline, baseline, 0), recipe.Stages[0].Prune!));
        Assert.Contains("--pruned_ratios has 2 ratios", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(stageDir));
    }
}
