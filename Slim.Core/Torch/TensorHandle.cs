using System.Runtime.InteropServices;

namespace Slim.Torch;

/// <summary>Owns one native at::Tensor handle; counts live and leaked handles for leak checks.</summary>
internal sealed class TensorHandle : SafeHandle
{
    private static long _live;
    private static long _finalized;
    private bool _disposedExplicitly;

    public TensorHandle(IntPtr h) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(h);
        Interlocked.Increment(ref _live);
    }

    /// <summary>
    /// Handles created and not yet disposed. A handle the garbage collector finalizes was
    /// leaked, so it stays counted here (and is counted in <see cref="Finalized"/>): a leak
    /// check then does not depend on when the collector happens to run.
    /// </summary>
    public static long Live => Interlocked.Read(ref _live);

    /// <summary>Handles released by the finalizer instead of Dispose (each one a leak).</summary>
    public static long Finalized => Interlocked.Read(ref _finalized);

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Disposes deterministically (Tensor.Dispose or a dispose scope).</summary>
    public void DisposeExplicitly()
    {
        _disposedExplicitly = true;
        Dispose();
    }

    protected override bool ReleaseHandle()
    {
        NativeMethods.slim_tensor_dispose(handle);
        if (_disposedExplicitly) Interlocked.Decrement(ref _live);
        else Interlocked.Increment(ref _finalized);
        return true;
    }
}
