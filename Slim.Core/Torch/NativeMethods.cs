using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Slim.Torch;

/// <summary>P/Invoke declarations of libslimnative, one partial file per native header.</summary>
internal static partial class NativeMethods
{
    internal const string Lib = "slimnative";

    // The resolver is per assembly and must be in place before the first call into slimnative from any of its types;
    // a module initializer runs before any code of the assembly, so no caller has to touch this class first.
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "the native library resolver must be registered before any P/Invoke")]
    internal static void RegisterResolver()
    {
        NativeLibrary.SetDllImportResolver(typeof(NativeMethods).Assembly, Resolve);
    }

    // The library is built next to the assemblies (see Slim.Core.csproj); look there first so
    // that no LD_LIBRARY_PATH is needed, then let the loader search as usual.
    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib) return IntPtr.Zero;
        IntPtr lib = IntPtr.Zero;
        foreach (var dir in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(assembly.Location) ?? "" })
        {
            var candidate = Path.Combine(dir, "libslimnative.so");
            if (File.Exists(candidate)) { lib = NativeLibrary.Load(candidate); break; }
        }
        if (lib == IntPtr.Zero && !NativeLibrary.TryLoad("libslimnative.so", assembly, path, out lib)) return IntPtr.Zero;
        RetainFreedMemory(lib);
        return lib;
    }

    private const int MallocTrimThreshold = -1;  // glibc's M_TRIM_THRESHOLD
    private const int MallocMmapThreshold = -3;  // glibc's M_MMAP_THRESHOLD

    /// <summary>
    /// Runs once, when the library is loaded and before any tensor exists. libtorch's CPU
    /// allocator is plain malloc/free; with glibc's defaults a process can end up returning
    /// every large activation buffer to the kernel at free and page-faulting it back in on
    /// the next step, which measured 2–4× slower training steps (bench/run.sh). Serving
    /// blocks up to glibc's 32 MiB maximum from the heap and never trimming it keeps a
    /// training loop's memory at its high-water mark instead, as a caching allocator would.
    /// SLIM_MALLOC_DEFAULTS=1 keeps glibc's defaults.
    /// </summary>
    private static unsafe void RetainFreedMemory(IntPtr lib)
    {
        if (Environment.GetEnvironmentVariable("SLIM_MALLOC_DEFAULTS") == "1") return;
        if (!NativeLibrary.TryGetExport(lib, "slim_mallopt", out var fn)) return;
        var mallopt = (delegate* unmanaged<int, int, int>)fn;
        // Failures are harmless (a non-glibc C library): the defaults stay.
        mallopt(MallocMmapThreshold, 32 << 20);
        mallopt(MallocTrimThreshold, int.MaxValue);
    }

    [LibraryImport(Lib)] internal static partial IntPtr slim_last_error();

    /// <summary>Throws the native error of the last call, if it failed.</summary>
    internal static void Check()
    {
        var message = LastError();
        if (message is not null) throw new TorchException(message);
    }

    /// <summary>The message of the calling thread's last failed native call, or null.</summary>
    internal static string? LastError()
    {
        var p = slim_last_error();
        return p == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(p) ?? "native error";
    }

    /// <summary>Checks a returned handle: null with an error set throws.</summary>
    internal static IntPtr Check(IntPtr handle)
    {
        if (handle == IntPtr.Zero) Check();
        return handle;
    }

    internal static int Check(int rc)
    {
        if (rc < 0) Check();
        return rc;
    }
}
