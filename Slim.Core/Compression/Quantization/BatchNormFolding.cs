using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Compression.Quantization;

/// <summary>
/// Folding an inference-mode batch norm into the convolution before it:
/// w' = w · γ/√(σ²+ε) per output channel, b' = β + (b − μ) · γ/√(σ²+ε).
/// The expressions are differentiable in w, b, γ and β (running statistics are buffers), so
/// quantization-aware training can train through the folded weight.
/// </summary>
public static class BatchNormFolding
{
    /// <summary>Channels with running variance below this fraction of eps are folded as constants.</summary>
    public const double ConstantChannelVariance = 1e-3;

    /// <summary>γ/√(σ²+ε) per channel, from the running statistics.</summary>
    public static Tensor ScaleFactor(BatchNorm2d bn)
    {
        using var v = bn.running_var.add(bn.eps);
        using var std = v.sqrt();
        return bn.weight.div(std);
    }

    /// <summary>The folded weight and bias of conv (weight [out, in/g, k, k], optional bias) followed by bn in eval mode.</summary>
    public static (Tensor Weight, Tensor Bias) Fold(Tensor weight, Tensor? bias, BatchNorm2d bn)
    {
        if (bn.num_features != weight.size(0))
            throw new QuantizationException($"cannot fold a BatchNorm2d of {bn.num_features} channels into a conv of {weight.size(0)} output channels");
        using var sf = ScaleFactor(bn);
        // A channel whose running variance is far below eps was constant on the training data: its
        // normalised output varies by less than sqrt(var/eps) of gamma. Folding it the usual way turns
        // it into weights up to gamma/sqrt(eps) times larger, an amplifier that blows up any rounding
        // difference once inputs are quantized. Fold it to what it computes: zero weight, bias beta.
        using var constant = bn.running_var.lt(ConstantChannelVariance * bn.eps);
        using var notConstant = constant.logical_not();
        using var keep = notConstant.to(sf.dtype);
        using var sfKept = sf.mul(keep);
        using var sf4 = sfKept.reshape(-1, 1, 1, 1);
        var w = weight.mul(sf4);
        using var centred = bias is null ? bn.running_mean.neg() : bias.sub(bn.running_mean);
        using var shifted = centred.mul(sfKept);
        var b = bn.bias.add(shifted);
        return (w, b);
    }
}
