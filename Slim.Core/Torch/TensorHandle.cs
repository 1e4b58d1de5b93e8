using System.Runtime.InteropServices;

namespace Slim.Torch;

/// <summary>Owns one native at::Tensor handle; counts live handles for leak checks.</summary>
internal sealed class TensorHandle : SafeHandle
{
    private static long _live;

    public TensorHandle(IntPtr h) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(h);
        Interlocked.Increment(ref _live);
    }

    /// <summary>Native tensor handles currently alive (not yet disposed or finalized).</summary>
    public static long Live => Interlocked.Read(ref _live);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        NativeMethods.slim_tensor_dispose(handle);
        Interlocked.Decrement(ref _live);
        return true;
    }
}
