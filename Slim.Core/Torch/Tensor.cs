using System.Runtime.InteropServices;
using System.Text;

namespace Slim.Torch;

/// <summary>
/// A libtorch tensor. Owns one native handle; dispose it, or create it inside a
/// <see cref="DisposeScope"/>, so native memory is freed deterministically.
/// </summary>
public sealed partial class Tensor : IDisposable
{
    private TensorHandle? _handle;
    private DisposeScope? _scope;

    internal Tensor(IntPtr handle)
    {
        if (handle == IntPtr.Zero) throw new TorchException("null tensor handle");
        _handle = new TensorHandle(handle);
        _scope = DisposeScope.Current;
        _scope?.Register(this);
    }

    /// <summary>
    /// The raw native handle, for one native call. Once it is read, nothing else may use this object, so the collector
    /// may finalize an undisposed tensor (a temporary: <c>x.sum().item&lt;float&gt;()</c>) and free the native tensor
    /// while that call still reads it. Every call that passes it therefore keeps the tensor alive until the call
    /// returns: <see cref="Kept{T}"/> here, <c>GC.KeepAlive</c> on the arguments in AtenOp and the collectives.
    /// </summary>
    internal IntPtr Handle =>
        _handle is { IsClosed: false } h ? h.DangerousGetHandle() : throw new ObjectDisposedException("Tensor", "the tensor was disposed");

    /// <summary>Returns <paramref name="result"/>; being an instance call made after the native call that computed it, it keeps this tensor reachable until then.</summary>
    private T Kept<T>(T result)
    {
        GC.KeepAlive(this);
        return result;
    }

    /// <summary>
    /// Tensors created and not yet disposed in this process (for leak checks in tests). A
    /// tensor that was never disposed stays counted even after the garbage collector has
    /// finalized it, so the count is deterministic.
    /// </summary>
    public static long LiveCount => TensorHandle.Live;

    /// <summary>Tensors whose native handle was released by the garbage collector rather than disposed: leaks.</summary>
    public static long FinalizedCount => TensorHandle.Finalized;

    public bool IsDisposed => _handle is null || _handle.IsClosed;

    public void Dispose()
    {
        _scope?.Remove(this);
        _scope = null;
        DisposeWithoutScope();
    }

    internal void DisposeWithoutScope()
    {
        _handle?.DisposeExplicitly();
        _handle = null;
        _scope = null;
    }

    /// <summary>Hands this tensor to the enclosing dispose scope (or to none: the caller owns it).</summary>
    public Tensor MoveToOuterDisposeScope()
    {
        var outer = _scope?.Outer;
        _scope?.Remove(this);
        _scope = outer;
        outer?.Register(this);
        return this;
    }

    /// <summary>Takes this tensor out of every dispose scope: the caller owns it.</summary>
    public Tensor DetachFromDisposeScope()
    {
        _scope?.Remove(this);
        _scope = null;
        return this;
    }

    // ---- metadata ----

    public long[] shape
    {
        get
        {
            Span<long> buf = stackalloc long[16];
            unsafe
            {
                fixed (long* p = buf)
                {
                    int n = Kept(NativeMethods.Check(NativeMethods.slim_tensor_sizes(Handle, p, 16)));
                    return buf[..n].ToArray();
                }
            }
        }
    }

    public long size(int dim)
    {
        var s = shape;
        var d = dim < 0 ? dim + s.Length : dim;
        if (d < 0 || d >= s.Length) throw new TorchException($"dimension {dim} out of range for a tensor of {s.Length} dimensions");
        return s[d];
    }

    public int dim() => Kept(NativeMethods.Check(NativeMethods.slim_tensor_ndim(Handle)));
    public long numel() => Kept(NativeMethods.slim_tensor_numel(Handle)) is var n and >= 0 ? n : throw Err();
    public ScalarType dtype => (ScalarType)Kept(NativeMethods.Check(NativeMethods.slim_tensor_dtype(Handle)));

    public Device device
    {
        get
        {
            Kept(NativeMethods.Check(NativeMethods.slim_tensor_device(Handle, out var type, out var index)));
            return type == 0 ? Device.CPU : new Device((DeviceType)type, index);
        }
    }

    public bool requires_grad
    {
        get => Kept(NativeMethods.Check(NativeMethods.slim_tensor_requires_grad(Handle))) != 0;
        set => Kept(NativeMethods.Check(NativeMethods.slim_tensor_set_requires_grad(Handle, value ? 1 : 0)));
    }

    public Tensor requires_grad_(bool value = true)
    {
        requires_grad = value;
        return this;
    }

    public bool is_leaf => Kept(NativeMethods.Check(NativeMethods.slim_tensor_is_leaf(Handle))) != 0;

    /// <summary>The accumulated gradient (a new handle each call), or null.</summary>
    public Tensor? grad
    {
        get
        {
            var h = Kept(NativeMethods.slim_tensor_grad(Handle));
            if (h == IntPtr.Zero) { NativeMethods.Check(); return null; }
            return new Tensor(h);
        }
        set
        {
            Kept(NativeMethods.Check(NativeMethods.slim_tensor_set_grad(Handle, value?.Handle ?? IntPtr.Zero)));
            GC.KeepAlive(value);
        }
    }

    /// <summary>Identity of the underlying storage-owning tensor (equal for aliases of one tensor).</summary>
    public IntPtr Identity => Kept(NativeMethods.slim_tensor_impl(Handle));

    public void backward(Tensor? gradient = null, bool retain_graph = false, bool create_graph = false)
    {
        Kept(NativeMethods.Check(NativeMethods.slim_tensor_backward(Handle, gradient?.Handle ?? IntPtr.Zero,
            retain_graph ? 1 : 0, create_graph ? 1 : 0)));
        GC.KeepAlive(gradient);
    }

    /// <summary>A second handle to the same tensor (same storage, same autograd identity).</summary>
    public Tensor alias() => new(Kept(NativeMethods.Check(NativeMethods.slim_tensor_alias(Handle))));

    // ---- data ----

    public T item<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return (T)(object)(float)ItemDouble();
        if (typeof(T) == typeof(double)) return (T)(object)ItemDouble();
        if (typeof(T) == typeof(long)) return (T)(object)ItemLong();
        if (typeof(T) == typeof(int)) return (T)(object)(int)ItemLong();
        if (typeof(T) == typeof(bool)) return (T)(object)(ItemLong() != 0);
        if (typeof(T) == typeof(byte)) return (T)(object)(byte)ItemLong();
        throw new NotSupportedException($"item<{typeof(T).Name}> is not supported");
    }

    private double ItemDouble()
    {
        var v = Kept(NativeMethods.slim_tensor_item_double(Handle));
        NativeMethods.Check();
        return v;
    }

    private long ItemLong()
    {
        var v = Kept(NativeMethods.slim_tensor_item_int64(Handle));
        NativeMethods.Check();
        return v;
    }

    /// <summary>Copies the elements (row-major) into a new array; T must match the dtype's size.</summary>
    public T[] data<T>() where T : unmanaged
    {
        var n = numel();
        var result = new T[n];
        CopyTo<T>(result);
        return result;
    }

    /// <summary>Copies the elements (row-major) into dst, which must hold exactly numel() elements.</summary>
    public unsafe void CopyTo<T>(Span<T> dst) where T : unmanaged
    {
        var et = dtype;
        if (sizeof(T) != et.ElementSize())
            throw new TorchException($"cannot read a {et} tensor as {typeof(T).Name}");
        fixed (T* p = dst)
            Kept(NativeMethods.Check(NativeMethods.slim_tensor_copy_data(Handle, p, (long)dst.Length * sizeof(T))));
    }

    /// <summary>The elements as a float array (converting from any dtype).</summary>
    public float[] ToFloatArray()
    {
        if (dtype == ScalarType.Float32) return data<float>();
        using var f = to(ScalarType.Float32);
        return f.data<float>();
    }

    /// <summary>The elements as a long array (converting from any dtype).</summary>
    public long[] ToInt64Array()
    {
        if (dtype == ScalarType.Int64) return data<long>();
        using var f = to(ScalarType.Int64);
        return f.data<long>();
    }

    public override string ToString()
    {
        if (IsDisposed) return "Tensor(disposed)";
        var sb = new StringBuilder();
        sb.Append("Tensor(").Append('[').Append(string.Join(", ", shape)).Append("], ").Append(dtype);
        if (device.type != DeviceType.CPU) sb.Append(", ").Append(device);
        if (numel() <= 16 && device.type == DeviceType.CPU)
        {
            using var f = to(ScalarType.Float64);
            sb.Append(", {").Append(string.Join(", ", f.data<double>().Select(v => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)))).Append('}');
        }
        return sb.Append(')').ToString();
    }

    private static Exception Err()
    {
        NativeMethods.Check();
        return new TorchException("native call failed");
    }

    /// <summary>The raw bytes of the elements (row-major, native byte order).</summary>
    internal byte[] RawBytes()
    {
        var bytes = new byte[numel() * dtype.ElementSize()];
        unsafe
        {
            fixed (byte* p = bytes)
                Kept(NativeMethods.Check(NativeMethods.slim_tensor_copy_data(Handle, p, bytes.LongLength)));
        }
        return bytes;
    }

    internal static unsafe Tensor FromRawBytes(byte[] bytes, long[] shape, ScalarType type)
    {
        fixed (byte* p = bytes)
        fixed (long* s = shape)
            return new Tensor(NativeMethods.Check(NativeMethods.slim_tensor_from_data(p, s, shape.Length, (int)type)));
    }

    internal static unsafe Tensor FromData<T>(ReadOnlySpan<T> values, long[] shape, ScalarType type) where T : unmanaged
    {
        long n = 1;
        foreach (var s in shape)
        {
            if (s < 0) throw new TorchException($"negative dimension {s} in shape [{string.Join(", ", shape)}]");
            n *= s;
        }
        if (n != values.Length)
            throw new TorchException($"shape [{string.Join(", ", shape)}] needs {n} elements but {values.Length} were given");
        if (sizeof(T) != type.ElementSize()) throw new TorchException($"{typeof(T).Name} data does not fit {type}");
        fixed (T* p = values)
        fixed (long* s = shape)
            return new Tensor(NativeMethods.Check(NativeMethods.slim_tensor_from_data(p, s, shape.Length, (int)type)));
    }
}
