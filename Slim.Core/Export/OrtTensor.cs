using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using Slim.Torch;

namespace Slim.Export;

/// <summary>A dense tensor handed to or returned from ONNX Runtime: a shape and a typed array of its elements.</summary>
public sealed class OrtTensor
{
    /// <summary>Wraps data (float[], double[], long[], int[], sbyte[], byte[] or bool[]) of the given shape.</summary>
    public OrtTensor(Array data, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        // By exact element type: the runtime treats byte[] and sbyte[] (and int[]/uint[]) as the same for 'is'.
        ElementType = data.GetType().GetElementType() switch
        {
            var t when t == typeof(float) => OrtElementType.Float32,
            var t when t == typeof(double) => OrtElementType.Float64,
            var t when t == typeof(long) => OrtElementType.Int64,
            var t when t == typeof(int) => OrtElementType.Int32,
            var t when t == typeof(sbyte) => OrtElementType.Int8,
            var t when t == typeof(byte) => OrtElementType.UInt8,
            var t when t == typeof(bool) => OrtElementType.Bool,
            _ => throw new ArgumentException($"OrtTensor: element type {data.GetType().GetElementType()?.Name} is not supported; use float, double, long, int, sbyte, byte or bool"),
        };
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (shape.Any(d => d < 0) || count != data.Length)
            throw new ArgumentException($"OrtTensor: shape [{string.Join(", ", shape)}] holds {count} elements but the data has {data.Length}");
        Data = data;
        Shape = shape;
    }

    public long[] Shape { get; }
    public Array Data { get; }
    public OrtElementType ElementType { get; }

    /// <summary>The elements as float32 (converting other numeric types).</summary>
    public float[] ToFloatArray() => ElementType switch
    {
        OrtElementType.Float32 => (float[])Data,
        OrtElementType.Float64 => ((double[])Data).Select(v => (float)v).ToArray(),
        OrtElementType.Int64 => ((long[])Data).Select(v => (float)v).ToArray(),
        OrtElementType.Int32 => ((int[])Data).Select(v => (float)v).ToArray(),
        OrtElementType.Int8 => ((sbyte[])Data).Select(v => (float)v).ToArray(),
        OrtElementType.UInt8 => ((byte[])Data).Select(v => (float)v).ToArray(),
        _ => ((bool[])Data).Select(v => v ? 1f : 0f).ToArray(),
    };

    /// <summary>Copies a libtorch tensor (float32, float64, int64, int32, int8, uint8 or bool).</summary>
    public static OrtTensor FromTensor(Tensor t)
    {
        using var c = t.detach().contiguous();
        Array data = c.dtype switch
        {
            ScalarType.Float32 => c.data<float>(),
            ScalarType.Float64 => c.data<double>(),
            ScalarType.Int64 => c.data<long>(),
            ScalarType.Int32 => c.data<int>(),
            ScalarType.Int8 => c.data<sbyte>(),
            ScalarType.Byte => c.data<byte>(),
            ScalarType.Bool => c.data<bool>(),
            _ => c.ToFloatArray(),
        };
        return new OrtTensor(data, c.shape);
    }

    /// <summary>A new libtorch tensor with these elements.</summary>
    public Tensor ToTensor() => ElementType switch
    {
        OrtElementType.Float32 => torch.tensor((float[])Data, Shape),
        OrtElementType.Float64 => torch.tensor((double[])Data, Shape),
        OrtElementType.Int64 => torch.tensor((long[])Data, Shape),
        OrtElementType.Int32 => torch.tensor((int[])Data, Shape),
        OrtElementType.Int8 => torch.tensor((sbyte[])Data, Shape),
        OrtElementType.UInt8 => torch.tensor((byte[])Data, Shape),
        _ => torch.tensor((bool[])Data, Shape),
    };

    /// <summary>
    /// An ONNX Runtime value over this tensor's array (pinned, not copied): the caller disposes it, and the
    /// array must not change while it lives.
    /// </summary>
    internal OrtValue ToOrtValue() => ElementType switch
    {
        OrtElementType.Float32 => OrtValue.CreateTensorValueFromMemory((float[])Data, Shape),
        OrtElementType.Float64 => OrtValue.CreateTensorValueFromMemory((double[])Data, Shape),
        OrtElementType.Int64 => OrtValue.CreateTensorValueFromMemory((long[])Data, Shape),
        OrtElementType.Int32 => OrtValue.CreateTensorValueFromMemory((int[])Data, Shape),
        OrtElementType.Int8 => OrtValue.CreateTensorValueFromMemory((sbyte[])Data, Shape),
        OrtElementType.UInt8 => OrtValue.CreateTensorValueFromMemory((byte[])Data, Shape),
        _ => OrtValue.CreateTensorValueFromMemory((bool[])Data, Shape),
    };

    /// <summary>Copies an ONNX Runtime tensor out of native memory; <paramref name="what"/> names it in the error for an unsupported type.</summary>
    internal static OrtTensor FromOrtValue(OrtValue value, string what)
    {
        if (value.OnnxType != OnnxValueType.ONNX_TYPE_TENSOR)
            throw new OrtException($"{what} is an ONNX {value.OnnxType}, not a tensor; Slim reads tensor outputs only");
        var info = value.GetTensorTypeAndShape();
        Array data = info.ElementDataType switch
        {
            TensorElementType.Float => value.GetTensorDataAsSpan<float>().ToArray(),
            TensorElementType.Double => value.GetTensorDataAsSpan<double>().ToArray(),
            TensorElementType.Int64 => value.GetTensorDataAsSpan<long>().ToArray(),
            TensorElementType.Int32 => value.GetTensorDataAsSpan<int>().ToArray(),
            TensorElementType.Int8 => value.GetTensorDataAsSpan<sbyte>().ToArray(),
            TensorElementType.UInt8 => value.GetTensorDataAsSpan<byte>().ToArray(),
            TensorElementType.Bool => value.GetTensorDataAsSpan<bool>().ToArray(),
            var t => throw new OrtException($"{what} has element type {t}; Slim reads float, double, int64, int32, int8, uint8 and bool"),
        };
        return new OrtTensor(data, info.Shape);
    }

    public override string ToString() => $"OrtTensor({ElementType}, [{string.Join(", ", Shape)}])";
}
