using System.Runtime.InteropServices;

namespace Slim.Torch;

internal static partial class NativeMethods
{
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial IntPtr slim_op_find(string name, string overload);
    [LibraryImport(Lib)] internal static partial IntPtr slim_op_schema(IntPtr op);
    [LibraryImport(Lib)] internal static partial int slim_stack_clear();
    [LibraryImport(Lib)] internal static partial int slim_stack_push_tensor(IntPtr t);
    [LibraryImport(Lib)] internal static partial int slim_stack_push_none();
    [LibraryImport(Lib)] internal static partial int slim_stack_push_int(long v);
    [LibraryImport(Lib)] internal static partial int slim_stack_push_double(double v);
    [LibraryImport(Lib)] internal static partial int slim_stack_push_bool(int v);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int slim_stack_push_string(string v);
    [LibraryImport(Lib)] internal static unsafe partial int slim_stack_push_int_list(long* v, int n);
    [LibraryImport(Lib)] internal static unsafe partial int slim_stack_push_double_list(double* v, int n);
    [LibraryImport(Lib)] internal static unsafe partial int slim_stack_push_tensor_list(IntPtr* v, int n);
    [LibraryImport(Lib)] internal static unsafe partial int slim_stack_push_optional_tensor_list(IntPtr* v, int n);
    [LibraryImport(Lib)] internal static partial int slim_stack_push_device(int type, int index);
    [LibraryImport(Lib)] internal static partial int slim_stack_push_generator(IntPtr g);
    [LibraryImport(Lib)] internal static partial int slim_op_call(IntPtr op);
    [LibraryImport(Lib)] internal static partial int slim_stack_kind(int i);
    [LibraryImport(Lib)] internal static partial IntPtr slim_stack_tensor(int i);
    [LibraryImport(Lib)] internal static partial long slim_stack_int(int i);
    [LibraryImport(Lib)] internal static partial double slim_stack_double(int i);
    [LibraryImport(Lib)] internal static partial int slim_stack_list_length(int i);
    [LibraryImport(Lib)] internal static partial IntPtr slim_stack_list_tensor(int i, int j);
}
