using System.Globalization;
using Slim.Models;
using Slim.Recipes;

namespace Slim.Pipeline;

/// <summary>Result of training or evaluating a detector.</summary>
public sealed record DetectorRun(string Checkpoint, string Architecture, ModelOptions Options, DetectionScore Score);

/// <summary>Trains the recipe's baseline detector (resumable), then scores its best checkpoint.</summary>
public static class TrainStage
{
    public static DetectorRun Run(Recipe recipe, DetectionTask task, string outDir, bool resume, IProgressSink progress,
        CancellationToken cancel, ModelSection? model = null, int? iterations = null, string description = "train")
    {
        var m = model ?? recipe.Model;
        using var net = task.CreateModel(m);
        if (m.Checkpoint is not null) Trainer.LoadModel(m.Checkpoint, net);
        var options = task.ModelOptions(m);
        var settings = TrainSettings.From(recipe.Train) with
        {
            Iterations = iterations ?? recipe.Train.Iterations,
            CheckpointInterval = Math.Max(10, (iterations ?? recipe.Train.Iterations) / 10),
        };
        var meta = task.Metadata(m.Name, options);
        var result = new Trainer(progress).Fit(net, settings, task.TrainBatches(settings.BatchSize), task.Loss(net),
            evaluate: recipe.Train.EvalInterval > 0 ? () => task.Evaluate(net.call).Primary : null,
            checkpointDir: outDir, resume: resume, metadata: meta, description: description, cancel: cancel);
        var best = result.BestCheckpoint ?? result.LastCheckpoint!;
        if (result.BestCheckpoint is not null) Trainer.LoadModel(best, net);
        net.eval();
        var score = task.Evaluate(net.call);
        progress.Info(string.Create(CultureInfo.InvariantCulture, $"{description}: {task.MetricName} = {score.Primary * 100:F2} on {task.ValImageCount} images ({best})"));
        return new DetectorRun(best, m.Name, options, score);
    }

    /// <summary>Rebuilds a detector from a checkpoint's metadata (pruned channel counts included) and loads its weights.</summary>
    public static (YoloV3 model, string architecture, ModelOptions options) Load(string checkpoint)
    {
        var meta = Slim.Torch.Checkpoint.ReadMetadata(checkpoint);
        if (!meta.ContainsKey(Slim.Models.ModelOptions.MetadataPrefix + "architecture"))
            throw new Slim.Torch.CheckpointException($"{checkpoint}: the checkpoint does not record its model (no model.architecture metadata)");
        var (arch, options) = Slim.Models.ModelOptions.FromMetadata(meta);
        var model = ModelRegistry.CreateDetector(arch, options);
        Trainer.LoadModel(checkpoint, model);
        model.eval();
        return (model, arch, options);
    }
}
