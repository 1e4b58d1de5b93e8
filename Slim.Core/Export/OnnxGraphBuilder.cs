using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using Slim.Torch;

namespace Slim.Export;

/// <summary>
/// Accumulates the nodes and initializers of one ONNX graph, keeping every name unique and sharing
/// repeated small constants (scalars, shapes, axes).
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);

    public GraphProto Graph { get; } = new();

    /// <summary>Reserves a name, suffixing it when it is taken.</summary>
    public string Unique(string baseName)
    {
        var name = baseName;
        for (int i = 1; !_names.Add(name); i++) name = $"{baseName}_{i}";
        return name;
    }

    /// <summary>Marks a name (a graph input) as taken.</summary>
    public void Reserve(string name)
    {
        if (!_names.Add(name)) throw new InvalidOperationException($"ONNX export: the name '{name}' is used twice");
    }

    public static AttributeProto Attr(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
    public static AttributeProto Attr(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };
    public static AttributeProto Attr(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };
    public static AttributeProto Attr(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Node(string opType, string nodeName, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        NodeMulti(opType, nodeName, inputs, 1, attributes)[0];

    /// <summary>Adds a node with several outputs and returns their names.</summary>
    public string[] NodeMulti(string opType, string nodeName, IEnumerable<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Unique(nodeName) };
        node.Input.AddRange(inputs);
        var outs = new string[outputs];
        for (int i = 0; i < outputs; i++) outs[i] = Unique(outputs == 1 ? node.Name : $"{node.Name}:{i}");
        node.Output.AddRange(outs);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return outs;
    }

    /// <summary>Adds a node whose single output gets a given (already reserved) name.</summary>
    public void NodeTo(string opType, string nodeName, IEnumerable<string> inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Unique(nodeName) };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
    }

    public string Floats(string name, ReadOnlySpan<float> data, params long[] dims) =>
        Raw(name, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(data), dims);

    public string Int64s(string name, ReadOnlySpan<long> data, params long[] dims) =>
        Raw(name, TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(data), dims);

    public string Int32s(string name, ReadOnlySpan<int> data, params long[] dims) =>
        Raw(name, TensorProto.Types.DataType.Int32, MemoryMarshal.AsBytes(data), dims);

    public string Int8s(string name, ReadOnlySpan<sbyte> data, params long[] dims) =>
        Raw(name, TensorProto.Types.DataType.Int8, MemoryMarshal.AsBytes(data), dims);

    public string UInt8s(string name, ReadOnlySpan<byte> data, params long[] dims) =>
        Raw(name, TensorProto.Types.DataType.Uint8, data, dims);

    /// <summary>Adds a libtorch tensor as an initializer (float tensors of other widths become float32).</summary>
    public string FromTensor(string name, Tensor t)
    {
        using var c = t.detach().contiguous();
        var dims = c.shape;
        switch (c.dtype)
        {
            case ScalarType.Int64: return Int64s(name, c.data<long>(), dims);
            case ScalarType.Int32: return Int32s(name, c.data<int>(), dims);
            case ScalarType.Int8: return Int8s(name, c.data<sbyte>(), dims);
            case ScalarType.Byte: return UInt8s(name, c.data<byte>(), dims);
            case ScalarType.Bool: return Raw(name, TensorProto.Types.DataType.Bool, c.data<byte>(), dims);
            default:
                if (!c.dtype.IsFloatingPoint())
                    throw new InvalidOperationException($"ONNX export: constant '{name}' has element type {c.dtype}, which has no ONNX mapping here");
                return Floats(name, c.ToFloatArray(), dims);
        }
    }

    /// <summary>A shared float scalar constant.</summary>
    public string Scalar(float v) => Shared($"f:{BitConverter.SingleToInt32Bits(v)}", () => Floats($"const_{v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}", new[] { v }));

    /// <summary>A shared 1-D int64 constant (shapes, axes, indices).</summary>
    public string Longs(params long[] v) => Shared("i:" + string.Join(",", v), () => Int64s($"const_i64_{string.Join("_", v).Replace('-', 'm')}", v, v.Length));

    /// <summary>A shared 0-D int64 constant.</summary>
    public string LongScalar(long v) => Shared($"s:{v}", () => Int64s($"const_i64s_{v.ToString().Replace('-', 'm')}", new[] { v }));

    /// <summary>A shared 1-D float constant.</summary>
    public string FloatVector(params float[] v) =>
        Shared("fv:" + string.Join(",", v.Select(BitConverter.SingleToInt32Bits)), () => Floats("const_fv", v, v.Length));

    private string Shared(string key, Func<string> create)
    {
        if (!_constants.TryGetValue(key, out var name))
        {
            name = create();
            _constants[key] = name;
        }
        return name;
    }

    private string Raw(string name, TensorProto.Types.DataType type, ReadOnlySpan<byte> bytes, long[] dims)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw_data is little-endian");
        var unique = Unique(name);
        var t = new TensorProto { Name = unique, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        Graph.Initializer.Add(t);
        return unique;
    }
}
