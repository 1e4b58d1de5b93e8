using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// A conv or linear layer whose input activation is fake-quantized per tensor (see
/// <see cref="ActivationQuantizer"/>) and whose weight is fake-quantized per output channel.
/// </summary>
public abstract class QuantLayer : ActivationQuantizer
{
    /// <summary>Creates the input buffers. path is the module path, used in messages and the result.</summary>
    protected QuantLayer(string typeName, string path, double observerMomentum) : base(typeName, path, observerMomentum)
    {
    }

    /// <summary>The largest weight code (63 for 7-bit weights, 127 for 8-bit); the grid is [-max, max].</summary>
    public long WeightQuantMax { get; set; } = Int8Grid.WeightMax;

    /// <summary>The original layer type ("Conv2d", "Linear").</summary>
    public abstract string FloatType { get; }

    /// <summary>The weight and bias the layer computes with in eval mode (BN folded in), before fake quantization.</summary>
    public abstract (Tensor Weight, Tensor? Bias) FoldedWeightAndBias();

    /// <summary>The parameter name of the weight relative to this module ("weights", "weight").</summary>
    public abstract string WeightName { get; }

    /// <summary>The parameter name of the bias relative to this module.</summary>
    public abstract string BiasName { get; }
}
