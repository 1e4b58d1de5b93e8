using System.Runtime.InteropServices;

namespace Slim.Torch;

internal static partial class NativeMethods
{
    [LibraryImport(Lib)] internal static partial int slim_tensor_dispose(IntPtr t);
    [LibraryImport(Lib)] internal static partial IntPtr slim_tensor_alias(IntPtr t);
    [LibraryImport(Lib)] internal static unsafe partial IntPtr slim_tensor_from_data(void* data, long* shape, int ndim, int dtype);
    [LibraryImport(Lib)] internal static unsafe partial int slim_tensor_copy_data(IntPtr t, void* dst, long nbytes);
    [LibraryImport(Lib)] internal static partial IntPtr slim_tensor_data_ptr(IntPtr t);
    [LibraryImport(Lib)] internal static partial int slim_tensor_ndim(IntPtr t);
    [LibraryImport(Lib)] internal static unsafe partial int slim_tensor_sizes(IntPtr t, long* sizes, int capacity);
    [LibraryImport(Lib)] internal static partial int slim_tensor_dtype(IntPtr t);
    [LibraryImport(Lib)] internal static partial int slim_tensor_device(IntPtr t, out int type, out int index);
    [LibraryImport(Lib)] internal static partial long slim_tensor_numel(IntPtr t);
    [LibraryImport(Lib)] internal static partial int slim_tensor_requires_grad(IntPtr t);
    [LibraryImport(Lib)] internal static partial int slim_tensor_set_requires_grad(IntPtr t, int value);
    [LibraryImport(Lib)] internal static partial int slim_tensor_is_leaf(IntPtr t);
    [LibraryImport(Lib)] internal static partial IntPtr slim_tensor_grad(IntPtr t);
    [LibraryImport(Lib)] internal static partial int slim_tensor_set_grad(IntPtr t, IntPtr grad);
    [LibraryImport(Lib)] internal static partial int slim_tensor_backward(IntPtr t, IntPtr grad, int retain, int create);
    [LibraryImport(Lib)] internal static partial double slim_tensor_item_double(IntPtr t);
    [LibraryImport(Lib)] internal static partial long slim_tensor_item_int64(IntPtr t);
    [LibraryImport(Lib)] internal static partial IntPtr slim_tensor_impl(IntPtr t);

    [LibraryImport(Lib)] internal static partial int slim_grad_set_enabled(int enabled);
    [LibraryImport(Lib)] internal static partial int slim_grad_is_enabled();
    [LibraryImport(Lib)] internal static partial int slim_manual_seed(long seed);
    [LibraryImport(Lib)] internal static partial int slim_set_num_threads(int n);
    [LibraryImport(Lib)] internal static partial int slim_get_num_threads();
    [LibraryImport(Lib)] internal static partial int slim_cuda_is_available();
    [LibraryImport(Lib)] internal static partial int slim_cuda_device_count();
    [LibraryImport(Lib)] internal static partial IntPtr slim_torch_version();
    [LibraryImport(Lib)] internal static partial IntPtr slim_generator_new(long seed);
    [LibraryImport(Lib)] internal static partial int slim_generator_dispose(IntPtr g);
}
