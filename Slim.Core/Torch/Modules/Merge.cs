using static Slim.Torch.torch;

namespace Slim.Torch.Modules;

/// <summary>
/// An operation that merges several tensors (a concat, a residual add) as a module — PyTorch's eager
/// quantization calls these functional stubs. The module gives the operation a path, so quantization can put a
/// fake-quantization point on each input (<c>Slim.Compression.Quantization.QuantMerge</c>) and the INT8 export
/// can keep it in int8 (QLinearConcat, QLinearAdd). It holds no tensors, so checkpoints do not change.
/// </summary>
public abstract class Merge(string typeName) : nn.Module<Tensor[], Tensor>(typeName)
{
    /// <summary>The merged tensor.</summary>
    public abstract Tensor Combine(IReadOnlyList<Tensor> inputs);

    public override Tensor forward(Tensor[] inputs) => Combine(inputs);
}

/// <summary>Concatenation along a dimension.</summary>
public sealed class Concat(long dim = 1) : Merge("Concat")
{
    /// <summary>The concatenation dimension.</summary>
    public long Dim { get; } = dim;

    public override Tensor Combine(IReadOnlyList<Tensor> inputs) => cat(inputs.ToArray(), Dim);
}

/// <summary>Elementwise sum of its inputs (a residual connection).</summary>
public sealed class Add() : Merge("Add")
{
    public override Tensor Combine(IReadOnlyList<Tensor> inputs)
    {
        if (inputs.Count < 2) throw new ArgumentException($"Add needs at least two inputs, got {inputs.Count}");
        var sum = inputs[0] + inputs[1];
        for (int i = 2; i < inputs.Count; i++)
        {
            var next = sum + inputs[i];
            sum.Dispose();
            sum = next;
        }
        return sum;
    }
}
