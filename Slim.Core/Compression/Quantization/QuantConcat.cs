using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// A <see cref="Concat"/> whose inputs are each fake-quantized by a <see cref="QuantPoint"/> (children
/// <c>input0</c>, <c>input1</c>, …): the computation of QLinearConcat, which takes int8 inputs on their own
/// grids. An input that is also read by a quantized layer sees the same tensor as that layer's input
/// quantizer, so calibration and training give both the same scale and the export shares one
/// QuantizeLinear between them.
/// </summary>
public sealed class QuantConcat : Concat
{
    private readonly QuantPoint[] _inputs;

    /// <summary>A quantized concat of inputs tensors at module path path.</summary>
    public QuantConcat(string path, long dim, int inputs, double observerMomentum = 0.9) : base("QuantConcat", dim)
    {
        if (inputs < 1) throw new ArgumentOutOfRangeException(nameof(inputs), "a concat has at least one input");
        Path = path;
        _inputs = new QuantPoint[inputs];
        for (int i = 0; i < inputs; i++)
        {
            _inputs[i] = new QuantPoint(InputPath(path, i), observerMomentum);
            register_module(InputName(i), _inputs[i]);
        }
    }

    /// <summary>The module path of the concat.</summary>
    public string Path { get; }

    /// <summary>The child name of input i's point ("input0").</summary>
    public static string InputName(int i) => $"input{i}";

    /// <summary>The module path of input i's point under the concat at path.</summary>
    public static string InputPath(string path, int i) => path.Length == 0 ? InputName(i) : $"{path}.{InputName(i)}";

    /// <summary>The points, in input order.</summary>
    public IReadOnlyList<QuantPoint> Inputs => _inputs;

    public override Tensor forward(Tensor[] inputs)
    {
        if (inputs.Length != _inputs.Length)
            throw new QuantizationException($"{Path}: the quantized concat was prepared for {_inputs.Length} inputs but got {inputs.Length}");
        var quantized = new Tensor[inputs.Length];
        try
        {
            for (int i = 0; i < inputs.Length; i++) quantized[i] = _inputs[i].call(inputs[i]);
            return cat(quantized, Dim);
        }
        finally
        {
            foreach (var q in quantized) q?.Dispose();
        }
    }
}
