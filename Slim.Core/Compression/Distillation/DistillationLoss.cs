using Slim.Torch;

namespace Slim.Compression.Distillation;

/// <summary>
/// One step's distillation loss: <see cref="Total"/> is what is added to the task loss (the
/// overall weight included); <see cref="Parts"/> holds "distill" (= Total) and, for split
/// distillation, the unweighted terms "distill_xy", "distill_wh", "distill_obj", "distill_cls"
/// summed over the output scales.
/// </summary>
public sealed record DistillationLoss(Tensor Total, IReadOnlyDictionary<string, Tensor> Parts);
