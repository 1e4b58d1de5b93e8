using System.Text;

namespace Slim.Torch;

/// <summary>A checkpoint file that is not what it should be (truncated, foreign, newer format).</summary>
public sealed class CheckpointException(string message) : Exception(message);

/// <summary>
/// Named tensors plus string metadata in one file, written atomically (a temporary file in
/// the same folder, then a rename), so a crash never leaves a half-written checkpoint.
/// Layout: magic "SLIMCKPT", format version, metadata, tensors (name, dtype, shape, bytes), end mark, and (from
/// format 2) the SHA-256 of everything before it, so a file changed or damaged after it was written is refused
/// instead of evaluating to nonsense.
/// </summary>
public static class Checkpoint
{
    private const string Damaged = "; the file ends early or was damaged: restore it from a copy or write it again";

    private static readonly byte[] Magic = "SLIMCKPT"u8.ToArray();
    private static readonly byte[] EndMark = "SLIMEND!"u8.ToArray();

    /// <summary>The format version this build writes and the newest it reads.</summary>
    public const int FormatVersion = 2;

    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        // Buffered: checkpoints are large and written in many small pieces.
        AtomicFile.Write(path, stream =>
        {
            // Not disposed: that would close the file before AtomicFile flushes it to disk.
            var fs = new BufferedStream(stream, 1 << 20);
            using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            var hashing = new HashingStream(fs, hash);
            using var w = new BinaryWriter(hashing, Encoding.UTF8, leaveOpen: true);
            w.Write(Magic);
            w.Write(FormatVersion);
            var meta = metadata ?? new Dictionary<string, string>();
            w.Write(meta.Count);
            foreach (var (k, v) in meta.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                w.Write(k);
                w.Write(v);
            }
            var list = tensors.ToList();
            w.Write(list.Count);
            foreach (var (name, t) in list)
            {
                w.Write(name);
                w.Write((int)t.dtype);
                var shape = t.shape;
                w.Write(shape.Length);
                foreach (var s in shape) w.Write(s);
                var bytes = t.RawBytes();
                w.Write((long)bytes.Length);
                w.Write(bytes);
            }
            w.Write(EndMark);
            w.Flush();
            fs.Write(hash.GetHashAndReset());
            fs.Flush();
        });
    }

    /// <summary>Reads a checkpoint; the caller owns the returned tensors.</summary>
    public static (OrderedDictionary<string, Tensor> tensors, Dictionary<string, string> metadata) Load(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: checkpoint file not found");
        var tensors = new OrderedDictionary<string, Tensor>();
        try
        {
            using var fs = File.OpenRead(path);
            using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            using var r = new BinaryReader(new HashingStream(fs, hash), Encoding.UTF8);
            var (version, meta) = ReadHeader(r, path);
            int n = r.ReadInt32();
            if (n < 0 || n > 10_000_000) throw new CheckpointException($"{path}: corrupt checkpoint (tensor count {n})");
            for (int i = 0; i < n; i++)
            {
                var name = r.ReadString();
                var dtype = (ScalarType)r.ReadInt32();
                int ndim = r.ReadInt32();
                if (ndim < 0 || ndim > 16) throw new CheckpointException($"{path}: corrupt checkpoint (tensor '{name}' has {ndim} dimensions)");
                var shape = new long[ndim];
                for (int d = 0; d < ndim; d++) shape[d] = r.ReadInt64();
                long nbytes = r.ReadInt64();
                long expect = shape.Aggregate(1L, (a, b) => a * b) * dtype.ElementSize();
                if (nbytes != expect || nbytes > fs.Length - fs.Position)
                    throw new CheckpointException($"{path}: truncated or corrupt checkpoint at tensor '{name}' ({fs.Length} bytes){Damaged}");
                var bytes = r.ReadBytes((int)nbytes);
                tensors[name] = Tensor.FromRawBytes(bytes, shape, dtype);
            }
            var end = r.ReadBytes(EndMark.Length);
            if (!end.AsSpan().SequenceEqual(EndMark)) throw new CheckpointException($"{path}: truncated checkpoint (no end mark){Damaged}");
            if (version >= 2)
            {
                var computed = hash.GetHashAndReset();
                var stored = new byte[computed.Length];
                fs.ReadExactly(stored);
                if (!stored.AsSpan().SequenceEqual(computed))
                    throw new CheckpointException($"{path}: checksum mismatch: the file was changed or damaged after Slim wrote it (SHA-256 {Convert.ToHexString(computed)[..12].ToLowerInvariant()}… " +
                                                  $"computed, {Convert.ToHexString(stored)[..12].ToLowerInvariant()}… stored); restore it from a copy or write it again");
            }
            if (fs.Position != fs.Length) throw new CheckpointException($"{path}: {fs.Length - fs.Position} unexpected byte(s) after the end of the checkpoint");
            return (tensors, meta);
        }
        catch (EndOfStreamException)
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw new CheckpointException($"{path}: truncated checkpoint{Damaged}");
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads only the metadata of a checkpoint (it precedes the tensors, so the weights are not read; the checksum,
    /// which covers the whole file, is verified by <see cref="Load"/>).
    /// </summary>
    public static Dictionary<string, string> ReadMetadata(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: checkpoint file not found");
        try
        {
            using var r = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
            return ReadHeader(r, path).Metadata;
        }
        catch (EndOfStreamException)
        {
            throw new CheckpointException($"{path}: truncated checkpoint{Damaged}");
        }
    }

    // SLIMCKPT, the format version and the metadata: the part Load and ReadMetadata share.
    private static (int Version, Dictionary<string, string> Metadata) ReadHeader(BinaryReader r, string path)
    {
        if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
            throw new CheckpointException($"{path}: not a Slim checkpoint (no SLIMCKPT header)");
        int version = r.ReadInt32();
        if (version < 1 || version > FormatVersion)
            throw new CheckpointException($"{path}: checkpoint format {version} is newer than this build reads ({FormatVersion})");
        int nMeta = r.ReadInt32();
        if (nMeta < 0 || nMeta > 1_000_000) throw new CheckpointException($"{path}: corrupt checkpoint (metadata count {nMeta})");
        var meta = new Dictionary<string, string>();
        for (int i = 0; i < nMeta; i++) meta[r.ReadString()] = r.ReadString();
        return (version, meta);
    }
}

/// <summary>Passes reads and writes through to a stream and feeds every byte that passes to a hash.</summary>
internal sealed class HashingStream(Stream inner, System.Security.Cryptography.IncrementalHash hash) : Stream
{
    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => false;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = inner.Read(buffer, offset, count);
        hash.AppendData(buffer, offset, n);
        return n;
    }

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        hash.AppendData(buffer[..n]);
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        hash.AppendData(buffer, offset, count);
        inner.Write(buffer, offset, count);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        hash.AppendData(buffer);
        inner.Write(buffer);
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
