using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Slim.Torch;

/// <summary>
/// An ATen operator called through libtorch's dispatcher by its schema name. This is how
/// the whole tensor API reaches libtorch, and how anything missing is added in one line:
/// <c>static readonly AtenOp erf = new("aten::erf");  erf.Tensor(x)</c>.
/// </summary>
public sealed class AtenOp
{
    private static readonly ConcurrentDictionary<string, AtenOp> Cache = new();
    private IntPtr _handle;

    public AtenOp(string name, string overload = "")
    {
        Name = name;
        Overload = overload;
    }

    public string Name { get; }
    public string Overload { get; }
    public string FullName => Overload.Length == 0 ? Name : $"{Name}.{Overload}";

    /// <summary>The operator named "aten::name.overload" (looked up once and cached).</summary>
    public static AtenOp Get(string fullName)
    {
        return Cache.GetOrAdd(fullName, n =>
        {
            var ns = n.IndexOf("::", StringComparison.Ordinal);
            var dot = n.IndexOf('.', ns < 0 ? 0 : ns);
            return dot < 0 ? new AtenOp(n) : new AtenOp(n[..dot], n[(dot + 1)..]);
        });
    }

    /// <summary>The operator's schema, as libtorch prints it.</summary>
    public string Schema => Marshal.PtrToStringUTF8(NativeMethods.Check(NativeMethods.slim_op_schema(Handle))) ?? "";

    private IntPtr Handle
    {
        get
        {
            if (_handle == IntPtr.Zero)
                _handle = NativeMethods.Check(NativeMethods.slim_op_find(Name, Overload));
            return _handle;
        }
    }

    /// <summary>
    /// Observer of every operator call on this thread (the tracer of pruning and export).
    /// Called after the operator returns, with its arguments and tensor results.
    /// </summary>
    [ThreadStatic] internal static Action<AtenOp, OpArg[], Tensor[]>? Observer;

    /// <summary>Calls the operator; returns its results (tensors, numbers, lists) as objects.</summary>
    public object?[] Invoke(params ReadOnlySpan<OpArg> args)
    {
        int n = Push(args);
        var results = new object?[n];
        try
        {
            for (int i = 0; i < n; i++) results[i] = Read(i);
        }
        catch
        {
            // A failed read must not leak the handles already taken off the stack.
            DisposeAll(results);
            throw;
        }
        finally
        {
            NativeMethods.slim_stack_clear();
        }
        Observe(args, results);
        return results;
    }

    private static void DisposeAll(object?[] results)
    {
        foreach (var r in results)
        {
            if (r is Tensor t) t.Dispose();
            else if (r is Tensor[] ts) foreach (var x in ts) x.Dispose();
        }
    }

    /// <summary>Calls an operator that returns one tensor.</summary>
    public Tensor Tensor(params ReadOnlySpan<OpArg> args)
    {
        int n = Push(args);
        IntPtr h;
        try
        {
            if (n < 1 || NativeMethods.slim_stack_kind(0) != 1)
                throw new TorchException($"{FullName} did not return a tensor");
            h = NativeMethods.Check(NativeMethods.slim_stack_tensor(0));
        }
        finally
        {
            // Later returns (an op returning a tuple) are released with the stack.
            NativeMethods.slim_stack_clear();
        }
        var t = new Tensor(h);
        if (Observer is not null) Observe(args, new object?[] { t });
        return t;
    }

    /// <summary>Calls an operator that returns several tensors (a tuple or a Tensor[]).</summary>
    public Tensor[] Tensors(params ReadOnlySpan<OpArg> args)
    {
        var results = Invoke(args);
        var list = new List<Tensor>();
        foreach (var r in results)
        {
            if (r is Tensor t) list.Add(t);
            else if (r is Tensor[] ts) list.AddRange(ts);
        }
        return list.ToArray();
    }

    /// <summary>Calls an operator that returns a number.</summary>
    public double Scalar(params ReadOnlySpan<OpArg> args)
    {
        var results = Invoke(args);
        return results.Length > 0 && results[0] is IConvertible c ? c.ToDouble(null) :
            throw new TorchException($"{FullName} did not return a number");
    }

    /// <summary>Calls an operator for its effect (in-place ops); what it returns is released natively.</summary>
    public void Void(params ReadOnlySpan<OpArg> args)
    {
        // The tracer needs the results as tensors; otherwise skip wrapping the returned self
        // of an in-place op in a managed handle only to dispose it again.
        if (Observer is not null)
        {
            DisposeAll(Invoke(args));
            return;
        }
        Push(args);
        NativeMethods.slim_stack_clear();
    }

    private void Observe(ReadOnlySpan<OpArg> args, object?[] results)
    {
        var obs = Observer;
        if (obs is null) return;
        var outs = new List<Tensor>();
        foreach (var r in results)
        {
            if (r is Tensor t) outs.Add(t);
            else if (r is Tensor[] ts) outs.AddRange(ts);
        }
        // No re-entrance: the observer may itself call operators.
        Observer = null;
        try { obs(this, args.ToArray(), outs.ToArray()); }
        finally { Observer = obs; }
    }

    private unsafe int Push(ReadOnlySpan<OpArg> args)
    {
        var handle = Handle;
        NativeMethods.slim_stack_clear();
        try
        {
            foreach (ref readonly var a in args) PushOne(in a);
        }
        catch
        {
            // A disposed tensor or a failed push: leave no half-built stack holding references.
            NativeMethods.slim_stack_clear();
            throw;
        }
        int n = NativeMethods.slim_op_call(handle);
        // Keep the managed tensors (and so their native handles) alive across the call.
        foreach (ref readonly var a in args)
            if (a.O is not null) GC.KeepAlive(a.O);
        if (n < 0)
        {
            var error = NativeMethods.LastError();
            NativeMethods.slim_stack_clear();
            // libtorch reports some failures without a message (a Long input to conv2d, seen with Debian's 1.13):
            // then at least the tensors' types and shapes, which is what such a failure is usually about.
            throw new TorchException(string.IsNullOrWhiteSpace(error) ? $"{FullName} failed for {Describe(args)}" : error);
        }
        return n;
    }

    private static string Describe(ReadOnlySpan<OpArg> args)
    {
        var parts = new List<string>();
        foreach (ref readonly var a in args)
            if (a.O is Tensor t && !t.IsDisposed) parts.Add($"{LibtorchName(t.dtype)} [{string.Join(", ", t.shape)}]");
        return parts.Count == 0 ? "its arguments" : "tensors " + string.Join(", ", parts);
    }

    // The names libtorch's own messages use ("expected scalar type Long but found Float").
    private static string LibtorchName(ScalarType t) => t switch
    {
        ScalarType.Int64 => "Long",
        ScalarType.Int32 => "Int",
        ScalarType.Int16 => "Short",
        ScalarType.Int8 => "Char",
        ScalarType.Float32 => "Float",
        ScalarType.Float64 => "Double",
        ScalarType.Float16 => "Half",
        _ => t.ToString(),
    };

    private static unsafe void PushOne(in OpArg a)
    {
        int rc;
        switch (a.Kind)
        {
            case OpArg.K.None: rc = NativeMethods.slim_stack_push_none(); break;
            case OpArg.K.Tensor: rc = NativeMethods.slim_stack_push_tensor(((Tensor)a.O!).Handle); break;
            case OpArg.K.Int: rc = NativeMethods.slim_stack_push_int(a.I); break;
            case OpArg.K.Double: rc = NativeMethods.slim_stack_push_double(a.D); break;
            case OpArg.K.Bool: rc = NativeMethods.slim_stack_push_bool((int)a.I); break;
            case OpArg.K.String: rc = NativeMethods.slim_stack_push_string((string)a.O!); break;
            case OpArg.K.IntList:
            {
                var v = (long[])a.O!;
                fixed (long* p = v) rc = NativeMethods.slim_stack_push_int_list(p, v.Length);
                break;
            }
            case OpArg.K.DoubleList:
            {
                var v = (double[])a.O!;
                fixed (double* p = v) rc = NativeMethods.slim_stack_push_double_list(p, v.Length);
                break;
            }
            case OpArg.K.TensorList:
            case OpArg.K.OptTensorList:
            {
                var ts = (Tensor?[])a.O!;
                var hs = ts.Length <= 64 ? stackalloc IntPtr[ts.Length] : new IntPtr[ts.Length];
                for (int i = 0; i < ts.Length; i++)
                {
                    if (ts[i] is null && a.Kind == OpArg.K.TensorList)
                        throw new ArgumentNullException(nameof(a), $"tensor list entry {i} is null: a Tensor[] argument cannot hold None");
                    hs[i] = ts[i]?.Handle ?? IntPtr.Zero;
                }
                fixed (IntPtr* p = hs)
                {
                    rc = a.Kind == OpArg.K.TensorList
                        ? NativeMethods.slim_stack_push_tensor_list(p, ts.Length)
                        : NativeMethods.slim_stack_push_optional_tensor_list(p, ts.Length);
                }
                break;
            }
            case OpArg.K.Device:
            {
                var d = (Device)a.O!;
                rc = NativeMethods.slim_stack_push_device((int)d.type, d.index);
                break;
            }
            case OpArg.K.Generator: rc = NativeMethods.slim_stack_push_generator(((Generator)a.O!).Handle); break;
            default: throw new ArgumentOutOfRangeException(nameof(a), a.Kind, "unknown argument kind");
        }
        if (rc < 0) NativeMethods.Check();
    }

    private static object? Read(int i)
    {
        switch (NativeMethods.slim_stack_kind(i))
        {
            case 0: return null;
            case 1:
            {
                var h = NativeMethods.slim_stack_tensor(i);
                if (h == IntPtr.Zero) { NativeMethods.Check(); return null; }
                return new Tensor(h);
            }
            case 2: return NativeMethods.slim_stack_int(i);
            case 3: return NativeMethods.slim_stack_double(i);
            case 4: return NativeMethods.slim_stack_int(i) != 0;
            case 5:
            {
                int len = NativeMethods.Check(NativeMethods.slim_stack_list_length(i));
                var ts = new Tensor[len];
                for (int j = 0; j < len; j++) ts[j] = new Tensor(NativeMethods.Check(NativeMethods.slim_stack_list_tensor(i, j)));
                return ts;
            }
            default: return null;
        }
    }

    public override string ToString() => FullName;
}
