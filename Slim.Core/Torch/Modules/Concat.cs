using static Slim.Torch.torch;

namespace Slim.Torch.Modules;

/// <summary>
/// Concatenation along a dimension as a module (PyTorch's eager quantization calls this a functional
/// stub): it gives the concat a path, so quantization can put a fake-quantization point on each input
/// (<c>Slim.Compression.Quantization.QuantConcat</c>) and the INT8 export can keep the concat in int8.
/// It holds no tensors, so checkpoints do not change.
/// </summary>
public class Concat : nn.Module<Tensor[], Tensor>
{
    /// <summary>Concatenates along dim.</summary>
    public Concat(long dim = 1) : this("Concat", dim) { }

    /// <summary>For subclasses that report another type name.</summary>
    protected Concat(string typeName, long dim) : base(typeName) => Dim = dim;

    /// <summary>The concatenation dimension.</summary>
    public long Dim { get; }

    public override Tensor forward(Tensor[] inputs) => cat(inputs, Dim);
}
