using System.Globalization;

namespace Slim.Pipeline;

/// <summary>
/// Holds a run folder for one process: an exclusive lock on <see cref="FileName"/> in it (the operating system's
/// file lock, so a process that dies, even by kill -9, releases it). A second process that tries to write the same
/// folder is refused with the holder's pid; a lock file left by a dead process is simply taken over.
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".slim.lock";

    private readonly FileStream _stream;
    private readonly string _path;

    private RunLock(FileStream stream, string path)
    {
        _stream = stream;
        _path = path;
    }

    public static RunLock Acquire(string dir)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, FileName);
        FileStream stream;
        try
        {
            // FileShare.None is an exclusive flock on Unix: held until this process closes it or ends.
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new SlimException($"run folder '{dir}' is being written by another slim process{Holder(path)}; wait for it to end or choose another --out");
        }
        stream.SetLength(0);
        using (var w = new StreamWriter(stream, leaveOpen: true))
            w.Write(string.Create(CultureInfo.InvariantCulture, $"pid {Environment.ProcessId} since {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC\n"));
        stream.Flush(flushToDisk: true);
        return new RunLock(stream, path);
    }

    // The holder wrote its pid into the file; reading it may itself be refused while the lock is held.
    private static string Holder(string path)
    {
        try
        {
            using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var r = new StreamReader(s);
            var text = r.ReadLine();
            return string.IsNullOrWhiteSpace(text) ? "" : $" ({text.Trim()})";
        }
        catch (IOException)
        {
            return "";
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        try { File.Delete(_path); } catch (IOException) { }
    }
}
