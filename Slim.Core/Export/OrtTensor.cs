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
        ElementType = data switch
        {
            float[] => OrtElementType.Float32,
            double[] => OrtElementType.Float64,
            long[] => OrtElementType.Int64,
            int[] => OrtElementType.Int32,
            sbyte[] => OrtElementType.Int8,
            byte[] => OrtElementType.UInt8,
            bool[] => OrtElementType.Bool,
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
    public float[] ToFloatArray() => Data switch
    {
        float[] f => f,
        double[] d => d.Select(v => (float)v).ToArray(),
        long[] l => l.Select(v => (float)v).ToArray(),
        int[] i => i.Select(v => (float)v).ToArray(),
        sbyte[] s => s.Select(v => (float)v).ToArray(),
        byte[] b => b.Select(v => (float)v).ToArray(),
        bool[] b => b.Select(v => v ? 1f : 0f).ToArray(),
        _ => throw new InvalidOperationException("unreachable"),
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
    public Tensor ToTensor() => Data switch
    {
        float[] f => torch.tensor(f, Shape),
        double[] d => torch.tensor(d, Shape),
        long[] l => torch.tensor(l, Shape),
        int[] i => torch.tensor(i, Shape),
        sbyte[] s => torch.tensor(s, Shape),
        byte[] b => torch.tensor(b, Shape),
        bool[] b => torch.tensor(b, Shape),
        _ => throw new InvalidOperationException("unreachable"),
    };

    public override string ToString() => $"OrtTensor({ElementType}, [{string.Join(", ", Shape)}])";
}
