using Slim.Torch;

namespace Slim.Data;

/// <summary>
/// One rank's share of every training batch in data-parallel training: batch i is still chosen from the seed and i
/// alone (the same images and augmentations as in one process), and rank <see cref="Index"/> of <see cref="Count"/>
/// takes the <see cref="Index"/>-th equal slice of it. The shares are disjoint and together the whole batch, so the
/// ranks' averaged gradients are the gradient of the whole batch.
/// </summary>
public sealed record DataShard
{
    public DataShard(int index, int count)
    {
        if (count < 1 || index < 0 || index >= count) throw new ArgumentOutOfRangeException(nameof(index), $"shard {index} of {count}: expected 0 ≤ index < count");
        Index = index;
        Count = count;
    }

    /// <summary>This rank's share (0 … Count − 1).</summary>
    public int Index { get; }

    /// <summary>How many shares a batch is split into (the world size).</summary>
    public int Count { get; }

    /// <summary>The share of the group's rank, or null in one process.</summary>
    public static DataShard? Of(ProcessGroup? group) => group is { world_size: > 1 } ? new DataShard(group.rank, group.world_size) : null;

    /// <summary>Null when a batch of <paramref name="batchSize"/> splits evenly over <paramref name="processes"/>, else what is wrong.</summary>
    public static string? CheckBatchSize(int batchSize, int processes) =>
        processes <= 1 || batchSize % processes == 0 ? null
            : $"train.batch_size {batchSize} does not split evenly over {processes} processes: use a multiple of {processes} (each process takes batch_size / {processes} images)";

    /// <summary>
    /// The positions in the epoch's order of batch <paramref name="batchIndex"/>'s images for this share: the whole batch
    /// without a shard (or when not training), else this share's slice.
    /// </summary>
    public static (int From, int Count) Positions(DataShard? shard, int batchIndex, int batchSize, int total, bool train)
    {
        int from = batchIndex * batchSize, n = Math.Min(batchSize, total - from);
        if (shard is null || !train) return (from, n);
        int start = n * shard.Index / shard.Count, end = n * (shard.Index + 1) / shard.Count;
        return (from + start, end - start);
    }
}
