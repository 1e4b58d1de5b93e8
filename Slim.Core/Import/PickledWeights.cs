using System.Collections;
using System.IO.Compression;
using System.Numerics;
using Razorvine.Pickle;
using Razorvine.Pickle.Objects;

namespace Slim.Import;

/// <summary>A tensor read from another framework's file: its name there, shape and values as float32 (row-major).</summary>
public sealed record SourceTensor(string Name, long[] Shape, float[] Values, string DType)
{
    public long Count => Values.LongLength;
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>Position in the file's own order (torch: the order its storages were first written).</summary>
    internal int Sequence { get; init; }
}

/// <summary>The file formats <see cref="PickledWeights"/> reads.</summary>
public enum WeightFormat
{
    /// <summary>torch.save of a state dict: the zip format (PyTorch 1.6 and later) or the legacy one.</summary>
    Torch,
    /// <summary>paddle.save of a state dict (.pdparams): a pickled dict of numpy arrays.</summary>
    Paddle,
}

/// <summary>
/// Reads the weights of a PyTorch or PaddlePaddle checkpoint with a real pickle reader (Razorvine.Pickle): the tensors
/// of the state dict in file order, every floating type as float32. Nothing of the file is executed: only the
/// globals a state dict uses are understood, anything else is refused by name.
/// </summary>
public static class PickledWeights
{
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("119547037146038801333356", System.Globalization.CultureInfo.InvariantCulture); // 0x1950a86a20f9469cfc6c

    static PickledWeights()
    {
        // Process-wide registrations: only the constructors a state dict needs.
        Unpickler.registerConstructor("collections", "OrderedDict", new Constructor(_ => new OrderedHashtable()));
        Unpickler.registerConstructor("torch._utils", "_rebuild_tensor_v2", new Constructor(a => TensorRef.From(a, null)));
        Unpickler.registerConstructor("torch._utils", "_rebuild_tensor_v3", new Constructor(a => TensorRef.From(a, a.Length > 6 ? NameOf(a[6]) : null)));
        Unpickler.registerConstructor("torch._utils", "_rebuild_parameter", new Constructor(a => a[0]));
        Unpickler.registerConstructor("torch._utils", "_rebuild_parameter_with_state", new Constructor(a => a[0]));
        foreach (var m in new[] { "numpy.core.multiarray", "numpy._core.multiarray" })
            Unpickler.registerConstructor(m, "_reconstruct", new Constructor(_ => new NumpyArray()));
        Unpickler.registerConstructor("numpy", "dtype", new Constructor(a => new NumpyDType((string)a[0])));
    }

    /// <summary>The format of a file from its first bytes (a zip is PyTorch's; a pickle whose first object is torch's magic number is legacy PyTorch; any other pickle is Paddle's).</summary>
    public static WeightFormat Detect(string path)
    {
        using var f = File.OpenRead(path);
        var head = new byte[4];
        int n = f.Read(head);
        if (n >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] == 3 && head[3] == 4) return WeightFormat.Torch;
        if (n < 2 || head[0] != 0x80)
            throw new InvalidDataException($"{path}: neither a PyTorch checkpoint (zip or pickle) nor a Paddle .pdparams pickle; give a file written by torch.save or paddle.save");
        f.Position = 0;
        using var u = new Unpickler();
        try
        {
            return u.load(new BufferedStream(f)) is BigInteger b && b == LegacyMagic ? WeightFormat.Torch : WeightFormat.Paddle;
        }
        catch (Exception e) when (e is PickleException or InvalidCastException or EndOfStreamException)
        {
            // A Paddle dict of arrays fails only on what it holds; it is read properly below.
            return WeightFormat.Paddle;
        }
    }

    /// <summary>Reads every tensor of the state dict in <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a state dict this reader understands (said with the file's name).</exception>
    public static IReadOnlyList<SourceTensor> Read(string path, WeightFormat? format = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: weights file not found", path);
        var fmt = format ?? Detect(path);
        try
        {
            object root = fmt == WeightFormat.Torch ? ReadTorch(path) : ReadPaddle(path);
            var list = new List<SourceTensor>();
            Collect(StateDict(root, path), "", list, path);
            // Pickle's SETITEMS sets a batch of items last to first: the storages' order is the file's order.
            if (fmt == WeightFormat.Torch) list = list.OrderBy(t => t.Sequence).ToList();
            if (list.Count == 0) throw new InvalidDataException($"{path}: holds no tensor");
            return list;
        }
        catch (PickleException e)
        {
            throw new InvalidDataException($"{path}: not a {(fmt == WeightFormat.Torch ? "PyTorch" : "Paddle")} state dict ({e.Message.Split('\n')[0]})", e);
        }
        catch (InvalidCastException e)
        {
            throw new InvalidDataException($"{path}: not a {(fmt == WeightFormat.Torch ? "PyTorch" : "Paddle")} state dict (unexpected contents: {e.Message})", e);
        }
    }

    // torch.save writes a zip (prefix/data.pkl, prefix/data/<key>) since 1.6; the legacy format is five pickles and raw storages.
    private static object ReadTorch(string path)
    {
        using var file = File.OpenRead(path);
        if (file.ReadByte() == 'P')
        {
            file.Position = 0;
            using var zip = new ZipArchive(file, ZipArchiveMode.Read);
            var pkl = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) || e.FullName == "data.pkl")
                ?? throw new InvalidDataException($"{path}: a zip without data.pkl is not a torch.save file");
            var prefix = pkl.FullName[..^"data.pkl".Length];
            byte[] Entry(string name)
            {
                var e = zip.GetEntry(prefix + name) ?? throw new InvalidDataException($"{path}: storage {name} is missing from the zip");
                using var s = e.Open();
                var m = new MemoryStream((int)e.Length);
                s.CopyTo(m);
                return m.ToArray();
            }
            using var u = new TorchUnpickler(key => Entry("data/" + key));
            var root = u.loads(Entry("data.pkl"));
            return TensorRef.Resolve(root);
        }
        file.Position = 0;
        var stream = new BufferedStream(file, 1 << 20);
        using var legacy = new TorchUnpickler(null);
        if (legacy.load(stream) is not BigInteger magic || magic != LegacyMagic) throw new InvalidDataException($"{path}: not a torch.save file (no magic number)");
        legacy.load(stream); // protocol version
        legacy.load(stream); // sys info
        var result = legacy.load(stream);
        var keys = (ArrayList)legacy.load(stream);
        var reader = new BinaryReader(stream);
        foreach (string key in keys)
        {
            long count = reader.ReadInt64();
            var storage = legacy.Storages[key];
            storage.Data = reader.ReadBytes(checked((int)(count * storage.ElementSize)));
        }
        return TensorRef.Resolve(result);
    }

    private static object ReadPaddle(string path)
    {
        using var file = File.OpenRead(path);
        using var u = new Unpickler();
        return u.load(new BufferedStream(file, 1 << 20));
    }

    // A training checkpoint often nests the weights: {"state_dict": {...}} or {"model": {...}}.
    private static IDictionary StateDict(object root, string path)
    {
        if (root is not IDictionary d) throw new InvalidDataException($"{path}: holds a {Describe(root)}, not a state dict (a dict of tensors)");
        foreach (var key in new[] { "state_dict", "model_state_dict", "model", "net" })
            if (d.Contains(key) && d[key] is IDictionary inner && Values(inner).Any(v => v is SourceTensor)) return inner;
        return d;
    }

    private static IEnumerable<object?> Values(IDictionary d)
    {
        foreach (DictionaryEntry e in d) yield return e.Value;
    }

    private static void Collect(IDictionary d, string prefix, List<SourceTensor> into, string path)
    {
        IEnumerable keys = d is OrderedHashtable o ? o.Order : d.Keys.Cast<object>().OrderBy(k => k.ToString(), StringComparer.Ordinal);
        // Paddle splits huge arrays into key@@.0, key@@.1 … and records how in UnpackBigParamInfor@@.
        var split = d["UnpackBigParamInfor@@"] as IDictionary;
        foreach (var key in keys)
        {
            var name = prefix + key;
            var value = d[key];
            if (key is string s && (s == "StructuredToParameterName@@" || s == "UnpackBigParamInfor@@" || s.Contains("@@.", StringComparison.Ordinal))) continue;
            switch (value)
            {
                case SourceTensor t:
                    into.Add(t with { Name = name });
                    break;
                case NumpyArray a:
                    into.Add(a.ToTensor(name));
                    break;
                case object[] { Length: 2 } pair when pair[1] is NumpyArray na: // paddle's (name, ndarray) form
                    into.Add(na.ToTensor(name));
                    break;
                case IDictionary inner when key is string && Values(inner).Any(v => v is SourceTensor or NumpyArray or IDictionary):
                    Collect(inner, name + ".", into, path);
                    break;
            }
        }
        if (split is not null)
            foreach (DictionaryEntry e in split) into.Add(Rejoin((string)e.Key, (IDictionary)e.Value!, d, prefix, path));
    }

    private static SourceTensor Rejoin(string key, IDictionary info, IDictionary d, string prefix, string path)
    {
        var shape = ((IEnumerable)info["OriginShape"]!).Cast<object>().Select(Convert.ToInt64).ToArray();
        var parts = ((IEnumerable)info["slices"]!).Cast<object>().Select(k => d[k] as NumpyArray
            ?? throw new InvalidDataException($"{path}: slice {k} of {key} is missing")).ToList();
        var values = parts.SelectMany(p => p.ToTensor(key).Values).ToArray();
        return new SourceTensor(prefix + key, shape, values, parts[0].DType.Code);
    }

    private static string Describe(object? o) => o switch
    {
        null => "None",
        ClassDict c => c.ClassName,
        _ => o.GetType().Name,
    };

    private static string NameOf(object o) => o is ClassDictConstructor c ? c.name : o.ToString() ?? "";

    private sealed class Constructor(Func<object[], object> make) : IObjectConstructor
    {
        public object construct(object[] args) => make(args);
    }

    /// <summary>collections.OrderedDict, keeping the order in which keys were set.</summary>
    private sealed class OrderedHashtable : Hashtable
    {
        public List<object> Order { get; } = new();

        public override object? this[object key]
        {
            get => base[key];
            set
            {
                if (!ContainsKey(key)) Order.Add(key);
                base[key] = value;
            }
        }

        // BUILD of a module's state dict sets {'_metadata': …}: not weights.
        public void __setstate__(Hashtable state) { }
    }

    private sealed class Storage
    {
        public required string Type;
        public required string Key;
        public int Sequence;
        public byte[]? Data;

        public int ElementSize => Type switch
        {
            "DoubleStorage" or "LongStorage" => 8,
            "FloatStorage" or "IntStorage" => 4,
            "HalfStorage" or "BFloat16Storage" or "ShortStorage" => 2,
            "ByteStorage" or "CharStorage" or "BoolStorage" or "UntypedStorage" => 1,
            _ => throw new InvalidDataException($"storage type torch.{Type} is not supported (float, double, half, bfloat16 and integer storages are)"),
        };
    }

    private sealed class TorchUnpickler(Func<string, byte[]>? read) : Unpickler
    {
        public Dictionary<string, Storage> Storages { get; } = new();

        // ('storage', torch.FloatStorage, key, location, numel[, view metadata])
        protected override object persistentLoad(object pid)
        {
            var t = (object[])pid;
            if (t.Length < 5 || t[0] as string != "storage") throw new InvalidDataException($"unknown persistent id {t.FirstOrDefault()}");
            var key = Convert.ToString(t[2], System.Globalization.CultureInfo.InvariantCulture)!;
            if (!Storages.TryGetValue(key, out var s))
            {
                s = new Storage { Type = NameOf(t[1]), Key = key, Sequence = Storages.Count };
                if (read is not null) s.Data = read(key);
                Storages[key] = s;
            }
            return s;
        }
    }

    /// <summary>A tensor as _rebuild_tensor_v2 describes it: a view of a storage, read once the storages are.</summary>
    private sealed record TensorRef(Storage Storage, long Offset, long[] Shape, long[] Stride, string? DType)
    {
        public static TensorRef From(object[] a, string? dtype) =>
            new((Storage)a[0], Convert.ToInt64(a[1]), Longs(a[2]), Longs(a[3]), dtype);

        public static object Resolve(object o)
        {
            switch (o)
            {
                case TensorRef r:
                    return r.ToTensor();
                case OrderedHashtable h:
                    foreach (var k in h.Order.ToList()) h[k] = Resolve(h[k]!);
                    return h;
                case Hashtable h:
                    foreach (var k in h.Keys.Cast<object>().ToList()) h[k] = Resolve(h[k]!);
                    return h;
                default:
                    return o;
            }
        }

        private SourceTensor ToTensor()
        {
            var type = DType is null ? Storage.Type : DType + "Storage";
            int size = ElementSizeOf(type);
            var data = Storage.Data ?? throw new InvalidDataException($"storage {Storage.Key} has no data");
            long count = Shape.Aggregate(1L, (x, y) => x * y);
            var values = new float[count];
            var index = new long[Shape.Length];
            for (long i = 0; i < count; i++)
            {
                long element = Offset;
                for (int d = 0; d < Shape.Length; d++) element += index[d] * Stride[d];
                long at = element * size;
                if (at < 0 || at + size > data.LongLength) throw new InvalidDataException($"tensor view outside its storage {Storage.Key}");
                values[i] = ToFloat(type, data, (int)at);
                for (int d = Shape.Length - 1; d >= 0; d--)
                {
                    if (++index[d] < Shape[d]) break;
                    index[d] = 0;
                }
            }
            return new SourceTensor("", Shape, values, type.Replace("Storage", "", StringComparison.Ordinal)) { Sequence = Storage.Sequence };
        }
    }

    private static int ElementSizeOf(string type) => new Storage { Type = type, Key = "" }.ElementSize;

    private static float ToFloat(string type, byte[] b, int at) => type switch
    {
        "FloatStorage" => BitConverter.ToSingle(b, at),
        "DoubleStorage" => (float)BitConverter.ToDouble(b, at),
        "HalfStorage" => (float)BitConverter.ToHalf(b, at),
        "BFloat16Storage" => BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(b, at) << 16),
        "LongStorage" => BitConverter.ToInt64(b, at),
        "IntStorage" => BitConverter.ToInt32(b, at),
        "ShortStorage" => BitConverter.ToInt16(b, at),
        "CharStorage" => (sbyte)b[at],
        "ByteStorage" or "BoolStorage" => b[at],
        _ => throw new InvalidDataException($"storage type torch.{type} is not supported"),
    };

    private static long[] Longs(object o) => o is object[] a ? a.Select(Convert.ToInt64).ToArray() : Array.Empty<long>();

    /// <summary>numpy.dtype('f4', False, True) with its byte order from __setstate__.</summary>
    private sealed class NumpyDType(string code)
    {
        public string Code { get; } = code;
        public string Order { get; private set; } = "<";

        public void __setstate__(object[] state)
        {
            if (state.Length > 1 && state[1] is string o) Order = o;
        }
    }

    /// <summary>numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') then __setstate__((1, shape, dtype, fortran, bytes)).</summary>
    private sealed class NumpyArray
    {
        public long[] Shape = Array.Empty<long>();
        public NumpyDType DType = new("f4");
        public bool Fortran;
        public byte[] Data = Array.Empty<byte>();

        public void __setstate__(object[] s)
        {
            Shape = Longs(s[1]);
            DType = (NumpyDType)s[2];
            Fortran = s[3] is true;
            Data = s[4] switch
            {
                byte[] bytes => bytes,
                string text => System.Text.Encoding.Latin1.GetBytes(text), // protocol 2 writes bytes as latin-1 text
                _ => throw new InvalidDataException("numpy array without its bytes"),
            };
        }

        public SourceTensor ToTensor(string name)
        {
            if (DType.Order == ">") throw new InvalidDataException($"{name}: big-endian arrays are not supported");
            var type = DType.Code switch
            {
                "f4" => "FloatStorage", "f8" => "DoubleStorage", "f2" => "HalfStorage",
                "i8" => "LongStorage", "i4" => "IntStorage", "i2" => "ShortStorage", "i1" => "CharStorage", "u1" => "ByteStorage", "b1" => "BoolStorage",
                _ => throw new InvalidDataException($"{name}: numpy dtype {DType.Code} is not supported"),
            };
            int size = ElementSizeOf(type);
            long count = Shape.Aggregate(1L, (x, y) => x * y);
            if (Data.LongLength != count * size) throw new InvalidDataException($"{name}: {Data.Length} bytes for shape [{string.Join(", ", Shape)}] of {DType.Code}");
            var values = new float[count];
            for (long i = 0; i < count; i++) values[i] = ToFloat(type, Data, (int)(i * size));
            if (Fortran && Shape.Length > 1) values = FromFortran(values, Shape);
            return new SourceTensor(name, Shape, values, DType.Code);
        }

        private static float[] FromFortran(float[] v, long[] shape)
        {
            var result = new float[v.Length];
            var index = new long[shape.Length];
            for (long i = 0; i < v.Length; i++)
            {
                long f = 0, step = 1;
                for (int d = 0; d < shape.Length; d++) { f += index[d] * step; step *= shape[d]; }
                result[i] = v[f];
                for (int d = shape.Length - 1; d >= 0; d--)
                {
                    if (++index[d] < shape[d]) break;
                    index[d] = 0;
                }
            }
            return result;
        }
    }
}
