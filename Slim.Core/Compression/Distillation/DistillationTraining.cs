using Slim.Training;
using Slim.Torch;

namespace Slim.Compression.Distillation;

/// <summary>Plugs a <see cref="Distiller"/> into the trainer's loss function.</summary>
public static class DistillationTraining
{
    /// <summary>
    /// A loss for <see cref="Trainer.Fit{TBatch}"/>: runs <paramref name="taskLoss"/> (which runs the
    /// student on the batch) while the distiller captures the student's features, then the teacher
    /// on <paramref name="input"/>(batch) — the same input tensor the student saw. Total = task +
    /// distillation (the weight is the distiller's <see cref="DistillationOptions.Weight"/>); the
    /// parts are "task", the task loss's own parts, "distill" and the split terms. Train
    /// <see cref="Distiller.TrainableModule"/> with it, after <see cref="Distiller.Validate"/>.
    /// </summary>
    public static Func<TBatch, LossParts> WithDistillation<TBatch>(Func<TBatch, LossParts> taskLoss, Distiller distiller, Func<TBatch, Tensor> input)
    {
        ArgumentNullException.ThrowIfNull(taskLoss);
        ArgumentNullException.ThrowIfNull(distiller);
        ArgumentNullException.ThrowIfNull(input);
        if (!distiller.IsValidated)
            throw new DistillationException("distillation: call Validate(sampleInput) on the distiller before building its loss, so the adapters exist when the optimizer is created");
        return batch =>
        {
            using var capture = distiller.Capture();
            var task = taskLoss(batch);
            var distill = distiller.Loss(input(batch));
            var parts = new Dictionary<string, Tensor>();
            if (!task.Parts.ContainsKey("task")) parts["task"] = task.Total;
            foreach (var (name, value) in task.Parts) parts[name] = value;
            foreach (var (name, value) in distill.Parts)
            {
                if (parts.ContainsKey(name))
                    throw new DistillationException($"distillation: the task loss already has a part named '{name}'; rename it");
                parts[name] = value;
            }
            return new LossParts(task.Total + distill.Total, parts);
        };
    }
}
