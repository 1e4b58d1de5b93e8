using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Training;

/// <summary>
/// Data-parallel training over a <see cref="ProcessGroup"/>: every rank holds the same model, runs its own share of each
/// batch, and after backward the gradients are averaged over the ranks, so that each rank's optimizer step is the one a
/// single process would take on the whole batch (for losses that are means over equal shares, and no batch norm in
/// training mode: its statistics are per share unless synchronized by
/// <see cref="Slim.Torch.Modules.SyncBatchNorm.Convert"/>).
/// </summary>
public sealed class DataParallel
{
    private readonly ProcessGroup _group;
    private readonly nn.Module _model;

    /// <summary>Binds the model to the group; call <see cref="BroadcastParameters"/> before the first step.</summary>
    public DataParallel(ProcessGroup group, nn.Module model)
    {
        _group = group ?? throw new ArgumentNullException(nameof(group));
        _model = model ?? throw new ArgumentNullException(nameof(model));
    }

    /// <summary>Every rank's parameters and buffers take rank 0's values (so all ranks start from the same model).</summary>
    public void BroadcastParameters() => BroadcastFlat(_model.parameters().Concat(_model.named_buffers().Select(b => b.buffer)).ToList());

    /// <summary>
    /// Every rank's buffers (batch-norm running statistics) take rank 0's values, as PyTorch's DistributedDataParallel
    /// does before each forward: without synchronized batch norm each rank's statistics follow its own share.
    /// </summary>
    public void BroadcastBuffers() => BroadcastFlat(_model.named_buffers().Select(b => b.buffer).ToList());

    // One broadcast per dtype of all the tensors laid end to end (Gloo broadcasts a tensor per round trip).
    private void BroadcastFlat(IReadOnlyList<Tensor> tensors)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var group in tensors.GroupBy(t => t.dtype))
        {
            var list = group.ToList();
            var flat = cat(list.Select(t => t.reshape(-1)).ToArray());
            _group.broadcast(new[] { flat }, 0);
            long at = 0;
            foreach (var t in list)
            {
                long n = t.numel();
                t.copy_(flat.narrow(0, at, n).view(t.shape));
                at += n;
            }
        }
    }

    /// <summary>
    /// Replaces each trainable parameter's gradient by its mean over the ranks, in one all-reduce of one flat bucket. A
    /// parameter without a gradient on this rank counts as zeros, so every rank sends the same layout. With
    /// <paramref name="loss"/>, the loss rides in the same bucket and its mean over the ranks is returned (what the
    /// whole batch's loss is, and the same number on every rank, so a loss that turns NaN on one stops all of them).
    /// </summary>
    public double AverageGradients(Tensor? loss = null)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var parameters = _model.parameters().Where(p => p.requires_grad).ToList();
        var grads = parameters.Select(p => p.grad ?? zeros_like(p)).ToList();
        var pieces = grads.Select(g => g.reshape(-1)).ToList();
        if (loss is not null) pieces.Add(loss.detach().reshape(-1).to(ScalarType.Float32));
        if (pieces.Count == 0) return double.NaN;
        var bucket = cat(pieces.ToArray());
        _group.all_reduce(bucket);
        bucket.div_(_group.world_size);
        long at = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            long n = grads[i].numel();
            var mean = bucket.narrow(0, at, n).view(grads[i].shape);
            if (parameters[i].grad is { } g) g.copy_(mean);
            else parameters[i].grad = mean.clone();
            at += n;
        }
        return loss is null ? double.NaN : bucket[at].item<float>();
    }
}
