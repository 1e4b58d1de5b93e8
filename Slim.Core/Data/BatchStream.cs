namespace Slim.Data;

/// <summary>Endless training batches over epochs, from any iteration on (what exact resume needs).</summary>
public static class BatchStream
{
    /// <summary>
    /// The batches from iteration <paramref name="from"/> on: epoch from / perEpoch, starting at batch
    /// from % perEpoch, then every later epoch whole. <paramref name="epoch"/>(e, start) yields epoch e's
    /// batches from batch start; with seeded loaders batch i is a function of the seed and i alone.
    /// </summary>
    public static IEnumerable<IImageBatch> From(Func<int, int, IEnumerable<IImageBatch>> epoch, int perEpoch, long from)
    {
        if (from < 0) throw new ArgumentOutOfRangeException(nameof(from), from, "the first iteration must be 0 or more");
        if (perEpoch <= 0) throw new ArgumentOutOfRangeException(nameof(perEpoch), perEpoch, "an epoch needs at least one batch");
        int e = (int)(from / perEpoch);
        int start = (int)(from % perEpoch);
        while (true)
        {
            foreach (var b in epoch(e, start)) yield return b;
            e++;
            start = 0;
        }
    }
}
