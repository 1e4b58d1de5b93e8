using System.Globalization;

namespace Slim.Pipeline;

/// <summary>
/// Holds a run folder for one process: an exclusive lock on <see cref="FileName"/> in it (the operating system's
/// file lock, so a process that dies, even by kill -9, releases it). A second process that tries to write the same
/// folder is refused with the holder's pid; a lock file left by a dead process is simply taken over.
/// Folders the lock created are removed again on release when the work left nothing in them (a verb that
/// refused its input leaves no empty --out behind).
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".slim.lock";

    private readonly FileStream _stream;
    private readonly string _path;
    private readonly List<string> _created;

    private RunLock(FileStream stream, string path, List<string> created)
    {
        _stream = stream;
        _path = path;
        _created = created;
    }

    public static RunLock Acquire(string dir)
    {
        // The folders this call creates, innermost first: removed on release if they stay empty.
        var created = new List<string>();
        for (var d = Path.GetFullPath(dir); !string.IsNullOrEmpty(d) && !Directory.Exists(d); d = Path.GetDirectoryName(d)) created.Add(d);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, FileName);
        FileStream? stream = null;
        // FileShare.None is an exclusive flock on Unix: held until this process closes it or ends. A moment's conflict
        // (another process probing the lock) is retried.
        for (int attempt = 0; stream is null; attempt++)
        {
            try
            {
                stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (attempt < 3)
            {
                Thread.Sleep(50);
            }
            catch (IOException)
            {
                RemoveEmpty(created);
                throw new SlimException($"run folder '{dir}' is being written by another slim process{Holder(path)}; wait for it to end or choose another --out");
            }
        }
        stream.SetLength(0);
        using (var w = new StreamWriter(stream, leaveOpen: true))
            w.Write(string.Create(CultureInfo.InvariantCulture, $"pid {Environment.ProcessId} since {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC\n"));
        stream.Flush(flushToDisk: true);
        return new RunLock(stream, path, created);
    }

    /// <summary>Refuses a folder whose lock another process holds (said before any other check of the folder's contents).</summary>
    public static void ThrowIfHeld(string dir)
    {
        var path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) return;
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new SlimException($"run folder '{dir}' is being written by another slim process{Holder(path)}; wait for it to end or choose another --out");
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Whether a folder holds anything but a lock file (a run killed before writing leaves only that).</summary>
    public static bool HasContent(string dir) =>
        Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any(e => Path.GetFileName(e) != FileName);

    // The holder wrote its pid into the file. .NET's own FileStream takes a shared flock to read, which the holder's
    // exclusive one refuses, so the few bytes are read with the C library, which takes no lock.
    private static string Holder(string path)
    {
        int fd = open(path, 0 /* O_RDONLY */);
        if (fd < 0) return "";
        try
        {
            var buffer = new byte[256];
            nint n = read(fd, buffer, buffer.Length);
            if (n <= 0) return "";
            var text = System.Text.Encoding.UTF8.GetString(buffer, 0, (int)n).Split('\n')[0].Trim();
            return text.Length == 0 ? "" : $" ({text})";
        }
        finally
        {
            _ = close(fd);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int open([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, int flags);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern nint read(int fd, byte[] buffer, nint count);

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern int close(int fd);

    public void Dispose()
    {
        // The file and the folders it made go while the lock is still held, so no other process can have taken the
        // lock in between and lose its folder.
        try { File.Delete(_path); } catch (IOException) { }
        RemoveEmpty(_created);
        _stream.Dispose();
    }

    private static void RemoveEmpty(List<string> created)
    {
        foreach (var d in created)
        {
            try
            {
                if (!Directory.Exists(d) || Directory.EnumerateFileSystemEntries(d).Any()) return;
                Directory.Delete(d);
            }
            catch (IOException) { return; }
            catch (UnauthorizedAccessException) { return; }
        }
    }
}
