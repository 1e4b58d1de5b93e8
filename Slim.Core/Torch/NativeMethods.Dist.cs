using System.Runtime.InteropServices;

namespace Slim.Torch;

internal static partial class NativeMethods
{
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int slim_dist_has_backend(string backend);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr slim_dist_new_gloo(int storeKind, string address, int port, int rank, int worldSize, long timeoutMs, string interfaceHost);
    [LibraryImport(Lib)] internal static partial int slim_dist_dispose(IntPtr pg);
    [LibraryImport(Lib)] internal static partial int slim_dist_rank(IntPtr pg);
    [LibraryImport(Lib)] internal static partial int slim_dist_world_size(IntPtr pg);
    [LibraryImport(Lib)] internal static unsafe partial int slim_dist_all_reduce(IntPtr pg, IntPtr* tensors, int count, int op);
    [LibraryImport(Lib)] internal static partial IntPtr slim_dist_all_reduce_autograd(IntPtr pg, IntPtr input);
    [LibraryImport(Lib)] internal static unsafe partial int slim_dist_broadcast(IntPtr pg, IntPtr* tensors, int count, int root);
    [LibraryImport(Lib)] internal static partial IntPtr slim_dist_all_gather(IntPtr pg, IntPtr input);
    [LibraryImport(Lib)] internal static partial int slim_dist_barrier(IntPtr pg);
}
