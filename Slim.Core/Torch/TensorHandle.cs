using System.Runtime.InteropServices;

namespace Slim.Torch;

/// <summary>
/// Owns one native at::Tensor handle. Counts handles that were not disposed deterministically:
/// one the garbage collector had to finalize stays counted as leaked, so leak checks do not
/// depend on when finalizers happen to run.
/// </summary>
internal sealed class TensorHandle : SafeHandle
{
    private static long _live;
    private static long _finalized;
    private bool _explicit;

    public TensorHandle(IntPtr h) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(h);
        Interlocked.Increment(ref _live);
    }

    /// <summary>Handles created and not yet disposed (finalized ones included: they leaked).</summary>
    public static long Live => Interlocked.Read(ref _live);

    /// <summary>Handles freed by the garbage collector instead of Dispose (each one a leak).</summary>
    public static long Finalized => Interlocked.Read(ref _finalized);

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Disposes deterministically (the live count goes down).</summary>
    public void DisposeExplicitly()
    {
        _explicit = true;
        Dispose();
    }

    protected override bool ReleaseHandle()
    {
        NativeMethods.slim_tensor_dispose(handle);
        if (_explicit) Interlocked.Decrement(ref _live);
        else Interlocked.Increment(ref _finalized);
        return true;
    }
}
