using Slim.Data;
using Slim.Torch;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Training;

namespace Slim.Pipeline;

/// <summary>What every stage of a run gets: the recipe, the task, its own folder and the run's controls.</summary>
/// <param name="Recipe">The validated recipe.</param>
/// <param name="Task">The recipe's model family bound to its data: model factory, batches, loss, metric, export.</param>
/// <param name="StageDir">The stage's own folder (created by the runner); artefacts go here, written atomically.</param>
/// <param name="Resume">Continue an interrupted stage from its checkpoints in StageDir.</param>
/// <param name="Progress">Where progress and information lines go.</param>
/// <param name="Cancel">Ctrl+C: save what can be saved, then throw OperationCanceledException.</param>
public sealed record StageContext(Recipe Recipe, ITask Task, string StageDir, bool Resume, IProgressSink Progress, CancellationToken Cancel)
{
    /// <summary>With <see cref="Resume"/>: continue a stage whose checkpoint was written with other training settings.</summary>
    public bool AllowChanges { get; init; }

    /// <summary>
    /// Data-parallel runs: the processes of the run (null in one process). Every rank runs the stage; training averages
    /// gradients over them, sensitivity analysis and calibration split their work between them.
    /// </summary>
    public ProcessGroup? Group { get; init; }

    /// <summary>This rank's share of every training batch (null in one process).</summary>
    public DataShard? Shard => DataShard.Of(Group);
}

/// <summary>The models a stage starts from.</summary>
/// <param name="Checkpoint">The previous stage's model (rebuildable from its metadata with ModelCheckpoint.Load).</param>
/// <param name="BaselineCheckpoint">The trained baseline (the default distillation teacher).</param>
/// <param name="BaselineAp">The baseline's score (the task's metric, 0-1).</param>
public sealed record StageInput(string Checkpoint, string BaselineCheckpoint, double BaselineAp);

/// <summary>What a stage produced; the runner writes it as the stage's result.json and reports it.</summary>
public sealed record StageOutcome
{
    /// <summary>"prune", "distill", "quant".</summary>
    public required string Stage { get; init; }
    /// <summary>One line saying what was done ("r578 l1_norm, fine-tune 300 it, distilled").</summary>
    public required string Detail { get; init; }
    /// <summary>The stage's output model, loadable with ModelCheckpoint.Load (for quant: the float twin with folded weights).</summary>
    public required string Checkpoint { get; init; }
    /// <summary>AP of the output model in libtorch (for quant: of the fake-quantized model).</summary>
    public required double Ap { get; init; }
    /// <summary>quant only: the quantization parameters file (see QuantStage) the INT8 export reads.</summary>
    public string? QuantizationFile { get; init; }
    /// <summary>Further figures for the report and closing notes (e.g. "ap_after_prune", "ap_without_distill").</summary>
    public IReadOnlyDictionary<string, double> Extra { get; init; } = new Dictionary<string, double>();
}
