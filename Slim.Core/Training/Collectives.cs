using System.Text;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Training;

/// <summary>
/// Small values, strings and files passed between the ranks of a <see cref="ProcessGroup"/> on top of its tensor
/// collectives: what one rank decided (a stage is finished, the run resumes at iteration i) or read from its disk (a
/// checkpoint, a result file), so that the other ranks need no shared file system to follow it.
/// </summary>
public static class Collectives
{
    /// <summary>Every rank gets rank <paramref name="src"/>'s bytes (the others pass null or anything).</summary>
    public static byte[] BroadcastBytes(this ProcessGroup group, byte[]? bytes, int src = 0)
    {
        using var scope = NewDisposeScope();
        bool mine = group.rank == src;
        if (mine && bytes is null) throw new ArgumentNullException(nameof(bytes), "the source rank must give the bytes");
        var length = tensor(new[] { mine ? (long)bytes!.Length : 0L });
        group.broadcast(new[] { length }, src);
        long n = length.item<long>();
        if (n == 0) return [];
        var data = mine ? tensor(bytes!) : zeros(new[] { n }, ScalarType.Byte);
        group.broadcast(new[] { data }, src);
        return mine ? bytes! : data.data<byte>();
    }

    /// <summary>Every rank gets rank <paramref name="src"/>'s string.</summary>
    public static string BroadcastString(this ProcessGroup group, string? text, int src = 0) =>
        Encoding.UTF8.GetString(group.BroadcastBytes(text is null ? null : Encoding.UTF8.GetBytes(text), src));

    /// <summary>Every rank gets rank <paramref name="src"/>'s numbers (the same count on every rank).</summary>
    public static double[] BroadcastDoubles(this ProcessGroup group, double[] values, int src = 0)
    {
        using var scope = NewDisposeScope();
        var t = tensor(values.ToArray());
        group.broadcast(new[] { t }, src);
        return t.data<double>();
    }

    /// <summary>Every rank gets rank <paramref name="src"/>'s yes or no.</summary>
    public static bool BroadcastFlag(this ProcessGroup group, bool value, int src = 0) => group.BroadcastDoubles(new[] { value ? 1.0 : 0.0 }, src)[0] != 0;

    /// <summary>
    /// Rank <paramref name="src"/>'s file <paramref name="sourcePath"/> copied to <paramref name="destinationPath"/> on every
    /// other rank (written atomically); on rank <paramref name="src"/> nothing is written.
    /// </summary>
    public static void BroadcastFile(this ProcessGroup group, string sourcePath, string destinationPath, int src = 0)
    {
        var bytes = group.BroadcastBytes(group.rank == src ? File.ReadAllBytes(sourcePath) : null, src);
        if (group.rank == src) return;
        var dir = Path.GetDirectoryName(Path.GetFullPath(destinationPath));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        AtomicFile.WriteAllBytes(destinationPath, bytes);
    }

    /// <summary>
    /// Runs <paramref name="open"/> on rank 0 first, then on the other ranks (after a barrier), so that what it may
    /// write (the offline sample data a task generates on first use) is written once; alone, just runs it.
    /// </summary>
    public static T RankZeroFirst<T>(ProcessGroup? group, Func<T> open)
    {
        if (group is not { world_size: > 1 }) return open();
        T value = group.rank == 0 ? open() : default!;
        group.barrier();
        return group.rank == 0 ? value : open();
    }

    /// <summary>Every rank's numbers (the same count on every rank), in rank order.</summary>
    public static double[][] AllGatherDoubles(this ProcessGroup group, double[] values)
    {
        using var scope = NewDisposeScope();
        var all = group.all_gather(tensor(values.ToArray()));
        var flat = all.data<double>();
        return Enumerable.Range(0, group.world_size).Select(r => flat.AsSpan(r * values.Length, values.Length).ToArray()).ToArray();
    }
}
