using System.Text.Json;
using Slim.Cli.Commands;
using Slim.Compression.Pruning.Sensitivity;
using Slim.Pipeline;
using Slim.Recipes;
using Xunit.Abstractions;

namespace Slim.Cli.Tests;

/// <summary>A tiny recipe, its generated data and a 5-iteration baseline, shared by the recipe-driven pruning tests.</summary>
public sealed class TinyPruneRecipe : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("slim-prune-recipe-").FullName;
    public string RecipeFile { get; }
    public string Checkpoint { get; }

    public TinyPruneRecipe()
    {
        RecipeFile = Path.Combine(Dir, "tiny.yml");
        File.WriteAllText(RecipeFile, $$"""
            name: tiny-prune
            seed: 3
            threads: 1
            model: {name: yolov3_mobilenet_v1, width: 0.25, input_size: 64}
            dataset:
              format: synthetic
              root: {{Dir}}/data
              generate: {train_images: 16, val_images: 8, image_size: 96, seed: 0}
              workers: 0
            train: {iterations: 5, batch_size: 4, lr: 0.001, warmup_steps: 2, augment: false}
            stages:
              - prune:
                  pruned_ratios: r578
                  fine_tune: {iterations: 4}
            """);
        var recipe = Load();
        var task = DetectionTask.Create(recipe);
        Checkpoint = TrainStage.Run(task, Path.Combine(Dir, "train"), false, NullProgress.Instance, default).Checkpoint;
    }

    public Recipe Load() => RecipeLoader.Load<Recipe>(RecipeFile);

    public void Dispose() => Directory.Delete(Dir, true);
}

/// <summary>`slim prune RECIPE` and `slim sensitivity` on the tiny recipe.</summary>
public class PruneRecipeTests(TinyPruneRecipe fixture, ITestOutputHelper output) : IClassFixture<TinyPruneRecipe>
{
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
    public void PruneWithARecipeRunsTheStageIntoOut()
    {
        var outDir = Path.Combine(fixture.Dir, "prune-run");
        var (code, stderr) = PruneCliSupport.Invoke("prune", fixture.RecipeFile, "--checkpoint", fixture.Checkpoint, "--out", outDir);
        output.WriteLine(stderr);
        Assert.True(code == 0, stderr);
        foreach (var f in new[] { PruneStage.PrunedName, PruneStage.ModelName, Slim.Training.Trainer.LastName, PruneStage.LayersName })
            Assert.True(File.Exists(Path.Combine(outDir, f)), $"{f} missing");
        Assert.Contains("yolo_block.0.0.0.conv", File.ReadAllText(Path.Combine(outDir, PruneStage.LayersName)));
        var (model, _, options) = TestCheckpoints.Load(Path.Combine(outDir, PruneStage.ModelName));
        using (model) Assert.Equal(18, options.ChannelOverrides.Count);
    }

    [Fact]
    public void CommandLineValuesReplaceTheRecipeStage()
    {
        var section = PruneCommand.Section(fixture.Load(), new PruneCommand.PruneRequest(null, "sensity", "bn_scale"));
        Assert.Equal(PruneCriterion.BnScale, section.Criterion);
        Assert.Equal("sensity", section.PrunedRatios);
        Assert.Empty(section.PrunedParams);
        Assert.Equal(4, section.FineTune.Iterations);
        var kept = PruneCommand.Section(fixture.Load(), new PruneCommand.PruneRequest(null, null, null));
        Assert.Equal("r578", kept.PrunedRatios);
        Assert.Equal(PruneCriterion.L1Norm, kept.Criterion);
    }

    [Fact]
    public void SensitivityWritesJsonAndPngResumesAndChoosesRatios()
    {
        var outDir = Path.Combine(fixture.Dir, "sens");
        var request = new SensitivityCommand.Request(fixture.Checkpoint, "yolo_block.0.0.0.conv.weights,yolo_block.1.tip.conv.weights", "0.3,0.6",
            4, outDir, null, null, null);
        var (console, text) = PruneCliSupport.Recorder();
        var lines = new Lines();
        Assert.Equal(ExitCode.Ok, SensitivityCommand.Execute(fixture.Load(), request, console, lines, default));
        var json = Path.Combine(outDir, PruneSensitivity.JsonName);
        var png = Path.Combine(outDir, PruneSensitivity.PngName);
        var first = SensitivityResult.Load(json);
        Assert.Equal(4, first.Points.Count);
        Assert.Equal(new[] { "yolo_block.0.0.0.conv.weights", "yolo_block.1.tip.conv.weights" }, first.Parameters);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);
        Assert.Contains("yolo_block.1.tip.conv.weights", text.ToString());
        Assert.Equal(4, lines.All.Count(l => l.StartsWith("sensitivity: yolo_block", StringComparison.Ordinal)));
        // Each point's loss is relative to the unpruned model on the analysis's own images, not to the full-set score.
        Assert.All(lines.All.Where(l => l.StartsWith("sensitivity: yolo_block", StringComparison.Ordinal)),
            l => Assert.Contains("% of the unpruned model on the same 4 images (", l));

        // An interruption after two points: the rerun measures only the missing two and keeps the others.
        var truncated = new SensitivityResult(first.Criterion, first.Baseline, first.Points.Take(2).ToList());
        truncated.Save(json);
        var (console2, text2) = PruneCliSupport.Recorder();
        var lines2 = new Lines();
        Assert.Equal(ExitCode.Ok, SensitivityCommand.Execute(fixture.Load(), request with { MaxLoss = 0.5 }, console2, lines2, default));
        Assert.Contains(lines2.All, l => l.Contains("resuming") && l.Contains("2 points measured"));
        Assert.Equal(2, lines2.All.Count(l => l.StartsWith("sensitivity: yolo_block", StringComparison.Ordinal)));
        var second = SensitivityResult.Load(json);
        Assert.Equal(4, second.Points.Count);
        Assert.Equal(first.Points.Take(2), second.Points.Take(2));
        // Evaluation is deterministic, so the remeasured points equal the first run's.
        Assert.Equal(first.Points.Skip(2).Select(p => p.Metric), second.Points.Skip(2).Select(p => p.Metric));

        var chosen = File.ReadAllLines(Path.Combine(outDir, PruneSensitivity.ChosenName)).Last();
        Assert.StartsWith("--pruned_params yolo_block.0.0.0.conv.weights,yolo_block.1.tip.conv.weights --pruned_ratios ", chosen);
        Assert.Contains(chosen, text2.ToString());
        output.WriteLine(text2.ToString());
    }

    [Fact]
    public void SensitivityRejectsBadRatiosWithExitCode3()
    {
        var (code, stderr) = PruneCliSupport.Invoke("sensitivity", fixture.RecipeFile, "--checkpoint", fixture.Checkpoint, "--ratios", "0.3,1.5",
            "--out", Path.Combine(fixture.Dir, "sens-bad"));
        Assert.Equal((int)ExitCode.InvalidInput, code);
        Assert.Contains("--ratios: 1.5 is outside (0, 1)", stderr);
        Assert.False(Directory.Exists(Path.Combine(fixture.Dir, "sens-bad")));
    }
}
