using System.Globalization;
using System.Runtime.InteropServices;

namespace Slim.Torch;

public static partial class torch
{
    /// <summary>
    /// torch.distributed's process groups (c10d), with PyTorch's names: a group of <c>world_size</c> processes, each with
    /// its <c>rank</c>, meeting at a rendezvous (<c>file:///shared/path</c>, <c>tcp://host:port</c> served by rank 0, or
    /// <c>env://</c>: MASTER_ADDR and MASTER_PORT, as torchrun sets them), then running collectives on CPU tensors in place.
    /// </summary>
    public static class distributed
    {
        /// <summary>Whether this build of the native library has the backend ("gloo"; "nccl" needs a CUDA libtorch).</summary>
        public static bool is_available(string backend = "gloo") => NativeMethods.slim_dist_has_backend(backend) == 1;

        /// <summary>
        /// Joins the group: returns when all <paramref name="world_size"/> ranks have joined, or throws after
        /// <paramref name="timeout"/> (default 5 minutes). <paramref name="interface_host"/> is the address the ranks
        /// reach each other at (loopback by default; a host's own address across machines).
        /// </summary>
        /// <exception cref="TorchException">The backend is missing, the rendezvous is malformed or timed out.</exception>
        public static ProcessGroup init_process_group(string backend, string init_method, int rank, int world_size, TimeSpan? timeout = null,
            string interface_host = "127.0.0.1")
        {
            if (backend != "gloo")
                throw new TorchException($"backend '{backend}' is not available in this build: use gloo (CPU tensors)");
            if (world_size < 1 || rank < 0 || rank >= world_size)
                throw new TorchException($"rank {rank} is not in 0…{world_size - 1} (world_size {world_size})");
            var (kind, address, port) = Rendezvous(init_method);
            long ms = (long)(timeout ?? TimeSpan.FromMinutes(5)).TotalMilliseconds;
            var h = NativeMethods.Check(NativeMethods.slim_dist_new_gloo(kind, address, port, rank, world_size, ms, interface_host));
            return new ProcessGroup(h);
        }

        /// <summary>Collectives that autograd differentiates through (torch.distributed.nn).</summary>
        public static class nn
        {
            /// <summary>torch.distributed.nn.functional, with PyTorch's names.</summary>
            public static class functional
            {
                /// <summary>
                /// The sum of <paramref name="tensor"/> over the ranks of <paramref name="group"/>, as a new tensor
                /// (<paramref name="tensor"/> is left as it is), differentiable: its backward sums the incoming gradient
                /// over the ranks, since every rank's input feeds every rank's output. Only the sum (PyTorch's default
                /// op). Every rank must call it, and later run backward through it, in the same order relative to its
                /// other collectives; the group must outlive that backward pass.
                /// </summary>
                /// <exception cref="TorchException">This build has no Gloo, or the collective failed.</exception>
                public static Tensor all_reduce(Tensor tensor, ProcessGroup group)
                {
                    ArgumentNullException.ThrowIfNull(tensor);
                    ArgumentNullException.ThrowIfNull(group);
                    var result = new Tensor(NativeMethods.Check(NativeMethods.slim_dist_all_reduce_autograd(group.Handle, tensor.Handle)));
                    GC.KeepAlive(group);
                    GC.KeepAlive(tensor);
                    return result;
                }
            }
        }

        // file:///path → (0, path); tcp://host:port → (1, host, port); env:// → MASTER_ADDR, MASTER_PORT.
        private static (int Kind, string Address, int Port) Rendezvous(string initMethod)
        {
            if (initMethod.StartsWith("file://", StringComparison.Ordinal)) return (0, initMethod["file://".Length..], 0);
            string hostPort;
            if (initMethod == "env://")
            {
                var addr = Environment.GetEnvironmentVariable("MASTER_ADDR");
                var p = Environment.GetEnvironmentVariable("MASTER_PORT");
                if (string.IsNullOrEmpty(addr) || string.IsNullOrEmpty(p))
                    throw new TorchException("init_method env:// needs MASTER_ADDR and MASTER_PORT in the environment");
                hostPort = $"{addr}:{p}";
            }
            else if (initMethod.StartsWith("tcp://", StringComparison.Ordinal)) hostPort = initMethod["tcp://".Length..];
            else throw new TorchException($"init_method '{initMethod}': expected file:///path, tcp://host:port or env://");
            int colon = hostPort.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(hostPort[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
                throw new TorchException($"init_method '{initMethod}': expected host:port with a port 1…65535");
            return (1, hostPort[..colon], port);
        }
    }
}

/// <summary>How a collective combines the ranks' values.</summary>
public enum ReduceOp
{
    SUM,
    PRODUCT,
    MIN,
    MAX,
}

/// <summary>
/// One rank's membership of a c10d process group (<see cref="torch.distributed.init_process_group"/>). Every rank must call
/// the same collectives in the same order with tensors of the same shapes; each call returns when its work is done.
/// </summary>
public sealed class ProcessGroup : IDisposable
{
    private readonly GroupHandle _handle;

    internal ProcessGroup(IntPtr handle)
    {
        _handle = new GroupHandle(handle);
        rank = NativeMethods.Check(NativeMethods.slim_dist_rank(handle));
        world_size = NativeMethods.Check(NativeMethods.slim_dist_world_size(handle));
    }

    /// <summary>This process's rank, 0 … world_size − 1.</summary>
    public int rank { get; }

    /// <summary>Processes in the group.</summary>
    public int world_size { get; }

    internal IntPtr Handle => _handle.IsClosed ? throw new ObjectDisposedException(nameof(ProcessGroup)) : _handle.DangerousGetHandle();

    /// <summary>Combines each tensor with its peers on every rank, in place.</summary>
    public void all_reduce(Tensor tensor, ReduceOp op = ReduceOp.SUM) => all_reduce(new[] { tensor }, op);

    /// <summary>Combines each of the tensors with its peers on every rank, in place, in one call.</summary>
    public unsafe void all_reduce(IReadOnlyList<Tensor> tensors, ReduceOp op = ReduceOp.SUM)
    {
        var handles = tensors.Select(t => t.Handle).ToArray();
        fixed (IntPtr* p = handles) Collective("all_reduce", NativeMethods.slim_dist_all_reduce(Handle, p, handles.Length, (int)op));
        GC.KeepAlive(tensors);
        GC.KeepAlive(this);
    }

    /// <summary>Every rank's tensors take rank <paramref name="src"/>'s values, in place.</summary>
    public unsafe void broadcast(IReadOnlyList<Tensor> tensors, int src = 0)
    {
        if (src < 0 || src >= world_size) throw new TorchException($"broadcast: src {src} is not a rank of 0…{world_size - 1}");
        var handles = tensors.Select(t => t.Handle).ToArray();
        fixed (IntPtr* p = handles) Collective("broadcast", NativeMethods.slim_dist_broadcast(Handle, p, handles.Length, src));
        GC.KeepAlive(tensors);
        GC.KeepAlive(this);
    }

    /// <summary>Every rank's <paramref name="tensor"/> (the same shape everywhere) stacked in rank order: [world_size, …].</summary>
    public Tensor all_gather(Tensor tensor)
    {
        var h = NativeMethods.slim_dist_all_gather(Handle, tensor.Handle);
        GC.KeepAlive(tensor);
        if (h == IntPtr.Zero) Collective("all_gather", -1);
        GC.KeepAlive(this);
        return new Tensor(h);
    }

    /// <summary>Returns when every rank has called it.</summary>
    public void barrier()
    {
        Collective("barrier", NativeMethods.slim_dist_barrier(Handle));
        GC.KeepAlive(this);
    }

    // A collective that fails has almost always lost a peer (it stopped, was killed, or is unreachable): said so first.
    private void Collective(string name, int status)
    {
        if (status >= 0) return;
        try
        {
            NativeMethods.Check(status);
        }
        catch (TorchException e)
        {
            throw new TorchException($"{name} over the process group failed: another rank stopped or cannot be reached ({e.Message})");
        }
    }

    /// <summary>Leaves the group (releases its store and connections).</summary>
    public void Dispose() => _handle.Dispose();

    private sealed class GroupHandle : SafeHandle
    {
        public GroupHandle(IntPtr h) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(h);
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle() => NativeMethods.slim_dist_dispose(handle) == 0;
    }
}
