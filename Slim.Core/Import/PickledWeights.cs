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

    /// <summary>Position in the file's own order (torch: the order the tensors were written).</summary>
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

    // The legacy format's first pickle: LONG1, 10 bytes, the magic number little-endian.
    private static readonly byte[] LegacyHeader = [0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19];

    static PickledWeights()
    {
        // Process-wide registrations: only the constructors a state dict needs.
        Unpickler.registerConstructor("collections", "OrderedDict", new Constructor(OrderedHashtable.From));
        // paddle.save of a nested object writes each tensor as tuple(((name, ndarray),)).
        foreach (var b in new[] { "builtins", "__builtin__" })
            Unpickler.registerConstructor(b, "tuple", new Constructor(a => a.Length > 0 && a[0] is object[] items ? items : Array.Empty<object>()));
        Unpickler.registerConstructor("torch._utils", "_rebuild_tensor_v2", new Constructor(a => TensorRef.From(a, null)));
        Unpickler.registerConstructor("torch._utils", "_rebuild_tensor_v3", new Constructor(a => TensorRef.From(a, a.Length > 6 ? StorageOf(NameOf(a[6])) : null)));
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
        var start = new byte[32];
        int read = f.Read(start);
        return start.AsSpan(0, read).IndexOf(LegacyHeader) >= 0 ? WeightFormat.Torch : WeightFormat.Paddle;
    }

    /// <summary>Reads every tensor of the state dict in <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a state dict this reader understands (said with the file's name).</exception>
    public static IReadOnlyList<SourceTensor> Read(string path, WeightFormat? format = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: weights file not found", path);
        var fmt = format ?? Detect(path);
        var what = fmt == WeightFormat.Torch ? "PyTorch" : "Paddle";
        try
        {
            var dict = fmt == WeightFormat.Torch ? ReadTorch(path) : StateDict(ReadPaddle(path), path);
            var list = new List<SourceTensor>();
            Collect(dict, "", list, path);
            // Pickle's SETITEMS sets a batch of items last to first: the order the tensors were rebuilt in is the file's.
            if (fmt == WeightFormat.Torch) list = list.OrderBy(t => t.Sequence).ToList();
            if (list.Count == 0) throw new InvalidDataException($"{path}: holds no tensor");
            // A model saved from inside DataParallel (or a wrapper) names everything module.…
            foreach (var wrapper in new[] { "module.", "_orig_mod." })
                if (list.All(t => t.Name.StartsWith(wrapper, StringComparison.Ordinal)))
                    list = list.Select(t => t with { Name = t.Name[wrapper.Length..] }).ToList();
            return list;
        }
        catch (InvalidDataException e) when (e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw;
        }
        catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException))
        {
            // Razorvine reports a corrupt stream with stack and index errors and wraps what __setstate__ threw: the innermost says what.
            var inner = e;
            while (inner.InnerException is not null) inner = inner.InnerException;
            throw new InvalidDataException($"{path}: not a readable {what} state dict ({inner.Message.Split('\n')[0].TrimEnd('.')})", e);
        }
    }

    // torch.save writes a zip (prefix/data.pkl, prefix/data/<key>) since 1.6; the legacy format is five pickles and raw storages.
    private static IDictionary ReadTorch(string path)
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
            // Only the weights are read from the zip: a training checkpoint's optimizer state is left where it is.
            return (IDictionary)TensorRef.Resolve(StateDict(root, path));
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
            var storage = legacy.Storages.TryGetValue(key, out var st) ? st : throw new InvalidDataException($"{path}: storage {key} is listed but never used");
            long bytes = count * storage.ElementSize;
            if (count < 0 || bytes > int.MaxValue || bytes > file.Length - stream.Position)
                throw new InvalidDataException($"{path}: truncated or corrupt at storage {key} ({count} elements announced)");
            storage.Data = reader.ReadBytes((int)bytes);
        }
        return (IDictionary)TensorRef.Resolve(StateDict(result, path));
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
        if (root is ClassDict c)
            throw new InvalidDataException($"{path}: holds a pickled {c.ClassName} object, not a state dict; save model.state_dict() instead of the model");
        if (root is not IDictionary d) throw new InvalidDataException($"{path}: holds a {Describe(root)}, not a state dict (a dict of tensors)");
        foreach (var key in new[] { "state_dict", "model_state_dict", "model", "net" })
            if (d.Contains(key) && d[key] is IDictionary inner && Values(inner).Any(IsTensor)) return inner;
        return d;
    }

    private static bool IsTensor(object? v) => v is SourceTensor or TensorRef or NumpyArray || v is object[] { Length: 2 } pair && pair[1] is NumpyArray;

    private static string StorageOf(string dtype) => dtype switch
    {
        "float32" or "float" => "FloatStorage",
        "float64" or "double" => "DoubleStorage",
        "float16" or "half" => "HalfStorage",
        "bfloat16" => "BFloat16Storage",
        "int64" or "long" => "LongStorage",
        "int32" or "int" => "IntStorage",
        "int16" or "short" => "ShortStorage",
        "int8" => "CharStorage",
        "uint8" => "ByteStorage",
        "bool" => "BoolStorage",
        _ => throw new InvalidDataException($"tensors of dtype torch.{dtype} are not supported (float, half, bfloat16 and integer ones are)"),
    };

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
                case IDictionary inner when key is string && Values(inner).Any(v => IsTensor(v) || v is IDictionary):
                    Collect(inner, name + ".", into, path);
                    break;
            }
        }
        if (split is not null)
            foreach (DictionaryEntry e in split) into.Add(Rejoin((string)e.Key, (IDictionary)e.Value!, d, prefix, path));
    }

    private static SourceTensor Rejoin(string key, IDictionary info, IDictionary d, string prefix, string path)
    {
        if (info["OriginShape"] is not IEnumerable shapeItems || info["slices"] is not IEnumerable sliceItems)
            throw new InvalidDataException($"{path}: the split parameter {key} lacks OriginShape or slices");
        var shape = shapeItems.Cast<object>().Select(Convert.ToInt64).ToArray();
        var parts = sliceItems.Cast<object>().Select(k => d[k] as NumpyArray
            ?? throw new InvalidDataException($"{path}: slice {k} of {key} is missing")).ToList();
        var values = parts.SelectMany(p => p.ToTensor(key).Values).ToArray();
        if (parts.Count == 0 || values.LongLength != shape.Aggregate(1L, (x, y) => x * y))
            throw new InvalidDataException($"{path}: the slices of {key} hold {values.Length} values for shape [{string.Join(", ", shape)}]");
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

        // OrderedDict() in Python 3 pickles; Python 2 passes the items as a list of pairs.
        public static object From(object[] args)
        {
            var d = new OrderedHashtable();
            if (args.Length > 0 && args[0] is ArrayList items)
                foreach (var item in items)
                    if (item is object[] { Length: 2 } kv) d[kv[0]] = kv[1];
            return d;
        }

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
        public Func<byte[]>? Load;

        public byte[]? Bytes => Data ??= Load?.Invoke();
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
            if (t.Length > 5 && t[5] is not null) throw new InvalidDataException($"storage {key} is a view of another storage (a format older than PyTorch 1.0), which is not supported; save the state dict again with a current PyTorch");
            if (!Storages.TryGetValue(key, out var s))
            {
                s = new Storage { Type = NameOf(t[1]), Key = key };
                if (read is not null) s.Load = () => read(key);
                Storages[key] = s;
            }
            return s;
        }
    }

    /// <summary>A tensor as _rebuild_tensor_v2 describes it: a view of a storage, read once the storages are.</summary>
    private sealed record TensorRef(Storage Storage, long Offset, long[] Shape, long[] Stride, string? DType)
    {
        // Tensors are rebuilt in the order the file holds them; SETITEMS then stores a batch last to first.
        [ThreadStatic] private static int _made;

        public int Made { get; private init; }

        public static TensorRef From(object[] a, string? dtype) =>
            new((Storage)a[0], Convert.ToInt64(a[1]), Longs(a[2]), Longs(a[3]), dtype) { Made = _made++ };

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
            var read = Converter(type);
            var data = Storage.Bytes ?? throw new InvalidDataException($"storage {Storage.Key} has no data");
            if (Stride.Length != Shape.Length || Shape.Any(d => d < 0))
                throw new InvalidDataException($"tensor of shape [{string.Join(", ", Shape)}] with strides [{string.Join(", ", Stride)}] is malformed");
            long count = Shape.Aggregate(1L, (x, y) => x * y);
            var values = new float[count];
            var index = new long[Shape.Length];
            for (long i = 0; i < count; i++)
            {
                long element = Offset;
                for (int d = 0; d < Shape.Length; d++) element += index[d] * Stride[d];
                long at = element * size;
                if (at < 0 || at + size > data.LongLength) throw new InvalidDataException($"tensor view outside its storage {Storage.Key}");
                values[i] = read(data, (int)at);
                for (int d = Shape.Length - 1; d >= 0; d--)
                {
                    if (++index[d] < Shape[d]) break;
                    index[d] = 0;
                }
            }
            return new SourceTensor("", Shape, values, type.Replace("Storage", "", StringComparison.Ordinal)) { Sequence = Made };
        }
    }

    private static int ElementSizeOf(string type) => new Storage { Type = type, Key = "" }.ElementSize;

    // How one element of a storage type becomes a float32, chosen once per tensor.
    private static Func<byte[], int, float> Converter(string type) => type switch
    {
        "FloatStorage" => (b, at) => BitConverter.ToSingle(b, at),
        "DoubleStorage" => (b, at) => (float)BitConverter.ToDouble(b, at),
        "HalfStorage" => (b, at) => (float)BitConverter.ToHalf(b, at),
        "BFloat16Storage" => (b, at) => BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(b, at) << 16),
        "LongStorage" => (b, at) => BitConverter.ToInt64(b, at),
        "IntStorage" => (b, at) => BitConverter.ToInt32(b, at),
        "ShortStorage" => (b, at) => BitConverter.ToInt16(b, at),
        "CharStorage" => (b, at) => (sbyte)b[at],
        "ByteStorage" or "BoolStorage" => (b, at) => b[at],
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
            var read = Converter(type);
            for (long i = 0; i < count; i++) values[i] = read(Data, (int)(i * size));
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
