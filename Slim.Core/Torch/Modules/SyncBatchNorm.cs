using static Slim.Torch.torch;

namespace Slim.Torch.Modules;

/// <summary>
/// Batch norm whose training-mode statistics are those of the whole batch across the ranks of a process group (PyTorch's
/// SyncBatchNorm, PaddleDetection's sync_bn): each rank's per-channel sum, sum of squares and count are summed over the
/// group in one differentiable all-reduce, so that data-parallel training on shares of a batch normalizes, learns and
/// updates running statistics as one process would on the whole batch. In eval mode, and with
/// <see cref="BatchNorm2d.FreezeStatistics"/>, it is a plain <see cref="BatchNorm2d"/> and runs no collective. It is a
/// BatchNorm2d with the same tensor names, so checkpoints, pruning, BN folding and export treat it as one.
/// </summary>
public sealed class SyncBatchNorm : BatchNorm2d
{
    private SyncBatchNorm(BatchNorm2d source, ProcessGroup group) : base("SyncBatchNorm", source) => Group = group;

    /// <summary>The ranks whose statistics are combined.</summary>
    public ProcessGroup Group { get; }

    /// <summary>
    /// In training mode, every rank of <see cref="Group"/> must call it with the same number of channels, and later run
    /// backward through it: both the forward and the backward are collectives.
    /// </summary>
    /// <exception cref="TorchException">The input is not NCHW with <see cref="BatchNorm2d.num_features"/> channels, or
    /// the whole batch has a single value per channel.</exception>
    public override Tensor forward(Tensor input)
    {
        if (!training || FreezeStatistics) return base.forward(input);
        if (input.dim() != 4 || input.size(1) != num_features)
            throw new TorchException($"SyncBatchNorm: expected an NCHW input of {num_features} channels, got [{string.Join(", ", input.shape)}]");
        long c = num_features;
        var dims = new long[] { 0, 2, 3 };
        using var sum = input.sum(dims);
        using var squares = input.square();
        using var sumsq = squares.sum(dims);
        using var count = full(new long[] { 1 }, input.numel() / c, input.dtype);
        using var local = cat(new[] { sum, sumsq, count });
        using var global = distributed.nn.functional.all_reduce(local, Group);
        using var n = global.narrow(0, 2 * c, 1);
        double total = n.item<float>();
        if (total <= 1)
            throw new TorchException($"SyncBatchNorm: expected more than 1 value per channel over all ranks in training mode, got input [{string.Join(", ", input.shape)}]");

        using var globalSum = global.narrow(0, 0, c);
        using var globalSumsq = global.narrow(0, c, c);
        using var mean = globalSum.div(total);
        using var meanOfSquares = globalSumsq.div(total);
        using var meanSquared = mean.square();
        using var difference = meanOfSquares.sub(meanSquared);
        // E[x²] − E[x]² may round below zero for a channel of (nearly) constant values.
        using var variance = difference.clamp_min(0);
        using var varianceEps = variance.add(eps);
        using var invstd = varianceEps.rsqrt();
        // y = (x − mean)·invstd·weight + bias = x·scale + shift, two full-size operations instead of four.
        using var scale = invstd.mul(weight);
        using var meanScaled = mean.mul(scale);
        using var shift = bias.sub(meanScaled);
        using var scale4 = scale.view(1, c, 1, 1);
        using var shift4 = shift.view(1, c, 1, 1);
        using var scaled = input.mul(scale4);
        var output = scaled.add(shift4);

        // As aten::batch_norm: running = (1 − momentum)·running + momentum·batch, the variance unbiased (n / (n − 1)).
        using (no_grad())
        {
            running_mean.mul_(1 - momentum).add_(mean, momentum);
            running_var.mul_(1 - momentum).add_(variance, momentum * total / (total - 1));
        }
        return output;
    }

    /// <summary>
    /// Replaces every <see cref="BatchNorm2d"/> below <paramref name="model"/> by a SyncBatchNorm over
    /// <paramref name="group"/> holding the same parameter and buffer tensors (PyTorch's convert_sync_batchnorm, in
    /// place). Optimizers built on the model's parameters before or after stay valid. Returns how many were converted;
    /// those already synchronized are left as they are.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="model"/> itself is a BatchNorm2d (convert its container).</exception>
    public static int Convert(nn.Module model, ProcessGroup group)
    {
        ArgumentNullException.ThrowIfNull(group);
        return Replace(model, bn => bn is SyncBatchNorm ? null : new SyncBatchNorm(bn, group));
    }

    /// <summary>
    /// Undoes <see cref="Convert"/>: every SyncBatchNorm below <paramref name="model"/> becomes a plain
    /// <see cref="BatchNorm2d"/> holding the same tensors, which normalizes with this rank's own statistics and runs no
    /// collective (for a training-mode forward on one rank only, or once the group is gone). Returns how many.
    /// </summary>
    public static int Revert(nn.Module model) =>
        Replace(model, bn => bn is SyncBatchNorm sync ? new BatchNorm2d("BatchNorm2d", sync) : null);

    private static int Replace(nn.Module model, Func<BatchNorm2d, BatchNorm2d?> replacement)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model is BatchNorm2d)
            throw new ArgumentException("the model is itself a BatchNorm2d: convert the module that contains it", nameof(model));
        // Collected first: replacing while enumerating would change the tree being walked.
        var found = model.named_modules().Where(x => x.module is BatchNorm2d).ToList();
        int replaced = 0;
        foreach (var (path, module) in found)
        {
            if (replacement((BatchNorm2d)module) is not { } value) continue;
            // Through the direct parent, so that a parent caching typed children (ConvBN, Sequential) follows.
            int dot = path.LastIndexOf('.');
            var parent = dot < 0 ? model : model.get_submodule(path[..dot]);
            parent.set_submodule(path[(dot + 1)..], value);
            // The old module is not disposed: its tensors now belong to the new one.
            replaced++;
        }
        return replaced;
    }
}
