using System.Runtime.InteropServices;
using Slim.Torch;

namespace Slim.Data;

/// <summary>
/// Owns one native cv::Mat for the duration of an OpenCV call. Pixels live in managed
/// <see cref="Image"/> arrays; a handle is created, used and disposed within one method.
/// </summary>
internal sealed class NativeImage : SafeHandle
{
    private NativeImage(IntPtr h) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(h);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        NativeMethods.slim_image_dispose(handle);
        return true;
    }

    internal IntPtr Ptr => DangerousGetHandle();

    /// <summary>Wraps a handle returned by a native call, throwing the native error for null.</summary>
    internal static NativeImage Wrap(IntPtr h) => new(NativeMethods.Check(h));

    internal static unsafe NativeImage FromPixels(byte[] pixels, int width, int height, int channels)
    {
        fixed (byte* p = pixels) return Wrap(NativeMethods.slim_image_from_data(p, height, width, channels));
    }

    internal unsafe (int Width, int Height, int Channels, byte[] Pixels) ToPixels()
    {
        NativeMethods.Check(NativeMethods.slim_image_shape(Ptr, out var rows, out var cols, out var ch));
        var pixels = new byte[(long)rows * cols * ch];
        fixed (byte* p = pixels) NativeMethods.Check(NativeMethods.slim_image_copy_data(Ptr, p, pixels.Length));
        return (cols, rows, ch, pixels);
    }

    internal static unsafe byte[] TakeBuffer(IntPtr buffer)
    {
        NativeMethods.Check(buffer);
        try
        {
            var n = NativeMethods.slim_buffer_size(buffer);
            if (n < 0) NativeMethods.Check();
            var bytes = new byte[n];
            fixed (byte* p = bytes) NativeMethods.Check(NativeMethods.slim_buffer_copy(buffer, p, n));
            return bytes;
        }
        finally
        {
            NativeMethods.slim_buffer_dispose(buffer);
        }
    }
}
