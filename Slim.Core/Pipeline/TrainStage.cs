using Slim.Data;
using Slim.Torch;
using System.Globalization;
using Slim.Models;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Training;

namespace Slim.Pipeline;

/// <summary>Result of training a model: its best checkpoint, architecture, options and score.</summary>
public sealed record TrainRun(string Checkpoint, string Architecture, ModelOptions Options, TaskScore Score);

/// <summary>
/// Trains the recipe's baseline (or a teacher) of any family (resumable), then scores its best checkpoint. The
/// trainer evaluates at least once, at the end, so best.ckpt always exists; the run's curve is drawn beside it.
/// </summary>
public static class TrainStage
{
    public static TrainRun Run(ITask task, string outDir, bool resume, IProgressSink progress,
        CancellationToken cancel, ModelSection? model = null, int? iterations = null, string description = "train", bool allowChanges = false,
        ProcessGroup? group = null)
    {
        var recipe = task.Recipe;
        var m = model ?? recipe.Model;
        using var net = task.CreateModel(m);
        if (m.Checkpoint is not null) Trainer.LoadModel(m.Checkpoint, net);
        if (m.Pretrained is not null) progress.Info($"{description}: pretrained {m.Pretrained}{(m.PretrainedBackboneOnly ? " (backbone)" : "")}: {PretrainedWeights.Apply(m, net).Summary}");
        var options = task.ModelOptions(m);
        int its = iterations ?? recipe.Train.Iterations;
        var settings = TrainSettings.From(recipe.Train) with { Iterations = its, CheckpointInterval = Math.Max(10, its / 10) };
        var meta = task.Metadata(m.Name, options);
        progress.Info($"{description}: {m.Name} on {task.TrainImageCount} images from {task.TrainSource}, {its} iterations of {settings.BatchSize}");
        foreach (var line in task.DataSummary()) progress.Info($"  {line}");
        TaskScore? lastScore = null;
        var result = new Trainer(progress, group).Fit(net, settings, task.TrainBatches(settings.BatchSize, shard: DataShard.Of(group)), task.Loss(net),
            evaluate: () => (lastScore = task.Evaluate(net)).Primary,
            checkpointDir: outDir, resume: resume, metadata: meta, description: description, cancel: cancel, metricName: task.MetricName, allowChanges: allowChanges);
        Plots.TrainingCurve.Save(outDir, $"{description}: {m.Name}", task.MetricName);
        var best = result.BestCheckpoint ?? result.LastCheckpoint!;
        // The final evaluation scored the model in memory; when it was the best, its score is the answer.
        var score = result.LastMetric == result.BestMetric ? lastScore! : null;
        if (score is null)
        {
            Trainer.LoadModel(best, net);
            net.eval();
            score = task.Evaluate(net);
        }
        net.eval();
        progress.Info(string.Create(CultureInfo.InvariantCulture, $"{description}: {task.MetricName} = {score.Primary * 100:F2} % on {task.ValImageCount} images ({best})"));
        return new TrainRun(best, m.Name, options, score);
    }
}
