namespace Slim.Torch;

/// <summary>
/// One argument of an ATen operator call: a tensor (null is None), an int, a float, a bool,
/// a list, a device, a generator or a string. Converts implicitly so calls read like the
/// operator's schema: <c>Ops.Call("aten::add", "Tensor", self, other, 1.0)</c>.
/// </summary>
public readonly struct OpArg
{
    internal enum K : byte { None, Tensor, Int, Double, Bool, IntList, DoubleList, TensorList, OptTensorList, Device, Generator, String }

    internal readonly K Kind;
    internal readonly long I;
    internal readonly double D;
    internal readonly object? O;

    private OpArg(K kind, long i = 0, double d = 0, object? o = null)
    {
        Kind = kind; I = i; D = d; O = o;
    }

    public static readonly OpArg None = new(K.None);

    public static implicit operator OpArg(Tensor? t) => t is null ? None : new(K.Tensor, o: t);
    public static implicit operator OpArg(long v) => new(K.Int, i: v);
    public static implicit operator OpArg(int v) => new(K.Int, i: v);
    public static implicit operator OpArg(double v) => new(K.Double, d: v);
    public static implicit operator OpArg(float v) => new(K.Double, d: v);
    public static implicit operator OpArg(bool v) => new(K.Bool, i: v ? 1 : 0);
    public static implicit operator OpArg(long[]? v) => v is null ? None : new(K.IntList, o: v);
    public static implicit operator OpArg(double[]? v) => v is null ? None : new(K.DoubleList, o: v);
    public static implicit operator OpArg(Tensor[]? v) => v is null ? None : new(K.TensorList, o: v);
    public static implicit operator OpArg(ScalarType v) => new(K.Int, i: (int)v);
    public static implicit operator OpArg(ScalarType? v) => v is null ? None : new(K.Int, i: (int)v.Value);
    public static implicit operator OpArg(Device? v) => v is null ? None : new(K.Device, o: v);
    public static implicit operator OpArg(Generator? v) => v is null ? None : new(K.Generator, o: v);
    public static implicit operator OpArg(string? v) => v is null ? None : new(K.String, o: v);
    public static implicit operator OpArg(long? v) => v is null ? None : new(K.Int, i: v.Value);
    public static implicit operator OpArg(double? v) => v is null ? None : new(K.Double, d: v.Value);

    /// <summary>A Tensor?[] argument (aten::index); null entries are None.</summary>
    public static OpArg OptionalTensors(Tensor?[] v) => new(K.OptTensorList, o: v);

    /// <summary>The tensor this argument holds, or null.</summary>
    public Tensor? AsTensor => Kind == K.Tensor ? (Tensor)O! : null;

    /// <summary>The tensors this argument holds (one for a tensor, all of a list).</summary>
    public IEnumerable<Tensor> Tensors => Kind switch
    {
        K.Tensor => new[] { (Tensor)O! },
        K.TensorList => (Tensor[])O!,
        K.OptTensorList => ((Tensor?[])O!).Where(t => t is not null).Cast<Tensor>(),
        _ => Array.Empty<Tensor>(),
    };

    /// <summary>The value as an int list (an int is a list of one), or null.</summary>
    public long[]? AsInts => Kind switch { K.IntList => (long[])O!, K.Int => new[] { I }, _ => null };

    /// <summary>The value as a number, or null.</summary>
    public double? AsDouble => Kind switch { K.Double => D, K.Int or K.Bool => I, _ => null };

    public bool IsNone => Kind == K.None;

    public override string ToString() => Kind switch
    {
        K.None => "None",
        K.Tensor => "Tensor",
        K.Int => I.ToString(),
        K.Double => D.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        K.Bool => I != 0 ? "True" : "False",
        K.IntList => "[" + string.Join(", ", (long[])O!) + "]",
        K.DoubleList => "[" + string.Join(", ", (double[])O!) + "]",
        _ => Kind.ToString(),
    };
}
