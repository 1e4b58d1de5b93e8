using System.Runtime.InteropServices;

namespace Slim.Torch;

// Declarations of native/src/slim_image.h (OpenCV image I/O and drawing).
internal static partial class NativeMethods
{
    [LibraryImport(Lib)] internal static partial void slim_image_dispose(IntPtr img);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial IntPtr slim_image_read(string path, int flags);
    [LibraryImport(Lib)] internal static unsafe partial IntPtr slim_image_decode(byte* data, long len, int flags);
    [LibraryImport(Lib)] internal static unsafe partial IntPtr slim_image_from_data(byte* data, int rows, int cols, int channels);
    [LibraryImport(Lib)] internal static partial int slim_image_shape(IntPtr img, out int rows, out int cols, out int channels);
    [LibraryImport(Lib)] internal static unsafe partial int slim_image_copy_data(IntPtr img, byte* dst, long nbytes);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial IntPtr slim_image_encode(IntPtr img, string ext, int quality);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int slim_image_write(IntPtr img, string path, int quality);
    [LibraryImport(Lib)] internal static partial IntPtr slim_image_resize(IntPtr img, int width, int height, int interpolation);
    [LibraryImport(Lib)] internal static partial IntPtr slim_image_cvt_color(IntPtr img, int code);
    [LibraryImport(Lib)] internal static partial int slim_image_rectangle(IntPtr img, int x1, int y1, int x2, int y2, double c0, double c1, double c2, int thickness);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int slim_image_put_text(IntPtr img, string text, int x, int y, double scale, double c0, double c1, double c2, int thickness);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int slim_image_text_size(string text, double scale, int thickness, out int width, out int height, out int baseline);
    [LibraryImport(Lib)] internal static partial int slim_image_set_num_threads(int n);
    [LibraryImport(Lib)] internal static partial void slim_buffer_dispose(IntPtr buf);
    [LibraryImport(Lib)] internal static partial long slim_buffer_size(IntPtr buf);
    [LibraryImport(Lib)] internal static unsafe partial int slim_buffer_copy(IntPtr buf, byte* dst, long nbytes);
}
