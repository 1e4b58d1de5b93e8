using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// A <see cref="Merge"/> (concat or residual add) whose inputs are each fake-quantized by a <see cref="QuantPoint"/>
/// (children <c>input0</c>, <c>input1</c>, …): the computation of QLinearConcat and QLinearAdd, which take int8
/// inputs on their own grids. An input that is also read by a quantized layer sees the same tensor as that layer's
/// input quantizer, so calibration and training give both the same scale and the export shares one
/// QuantizeLinear between them.
/// </summary>
public sealed class QuantMerge : nn.Module<Tensor[], Tensor>
{
    private readonly QuantPoint[] _inputs;

    /// <summary>The quantized form of merge (which it computes with) at module path path, for inputs tensors.</summary>
    public QuantMerge(string path, Merge merge, int inputs, double observerMomentum = 0.9) : base("Quant" + merge.TypeName)
    {
        if (inputs < 1) throw new ArgumentOutOfRangeException(nameof(inputs), "a merge has at least one input");
        Path = path;
        Float = merge;
        _inputs = new QuantPoint[inputs];
        for (int i = 0; i < inputs; i++)
        {
            _inputs[i] = new QuantPoint(InputPath(path, i), observerMomentum);
            register_module(InputName(i), _inputs[i]);
        }
    }

    /// <summary>The module path of the merge.</summary>
    public string Path { get; }

    /// <summary>The float operation (not a child: it holds no tensors).</summary>
    public Merge Float { get; }

    /// <summary>The child name of input i's point ("input0").</summary>
    public static string InputName(int i) => $"input{i}";

    /// <summary>The module path of input i's point under the merge at path.</summary>
    public static string InputPath(string path, int i) => path.Length == 0 ? InputName(i) : $"{path}.{InputName(i)}";

    /// <summary>The points, in input order.</summary>
    public IReadOnlyList<QuantPoint> Inputs => _inputs;

    public override Tensor forward(Tensor[] inputs)
    {
        if (inputs.Length != _inputs.Length)
            throw new QuantizationException($"{Path}: the quantized {Float.TypeName} was prepared for {_inputs.Length} inputs but got {inputs.Length}");
        var quantized = new Tensor[inputs.Length];
        try
        {
            for (int i = 0; i < inputs.Length; i++) quantized[i] = _inputs[i].call(inputs[i]);
            return Float.Combine(quantized);
        }
        finally
        {
            foreach (var q in quantized) q?.Dispose();
        }
    }
}
