using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Slim.Torch;

/// <summary>P/Invoke declarations of libslimnative, one partial file per native header.</summary>
internal static partial class NativeMethods
{
    internal const string Lib = "slimnative";

    [ModuleInitializer]
    internal static void RegisterResolver()
    {
        NativeLibrary.SetDllImportResolver(typeof(NativeMethods).Assembly, Resolve);
    }

    // The library is built next to the assemblies (see Slim.Core.csproj); look there first so
    // that no LD_LIBRARY_PATH is needed, then let the loader search as usual.
    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib) return IntPtr.Zero;
        foreach (var dir in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(assembly.Location) ?? "" })
        {
            var candidate = Path.Combine(dir, "libslimnative.so");
            if (File.Exists(candidate)) return NativeLibrary.Load(candidate);
        }
        return NativeLibrary.TryLoad("libslimnative.so", assembly, path, out var h) ? h : IntPtr.Zero;
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
