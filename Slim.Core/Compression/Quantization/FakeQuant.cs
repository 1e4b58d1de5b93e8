using Slim.Torch;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Compression.Quantization;

/// <summary>
/// The int8 format used throughout: symmetric, zero point 0, values in [-127, 127] (the -128
/// code is left unused so that the range is symmetric and a weight's sign flip is exact).
/// Fake quantization rounds to the grid and back to float with a straight-through gradient
/// (ATen's fake_quantize ops: gradient 1 inside the clamp range, 0 outside).
/// </summary>
public static class FakeQuant
{
    /// <summary>The smallest code.</summary>
    public const long QuantMin = -127;

    /// <summary>The largest code; a threshold t maps to scale t / QuantMax.</summary>
    public const long QuantMax = 127;

    /// <summary>The smallest scale used, so that an all-zero tensor still has a valid grid (PyTorch's observers use the same float epsilon).</summary>
    public const double MinScale = 1.1920928955078125e-07;

    /// <summary>The scale of a symmetric grid whose largest code stands for threshold.</summary>
    public static double ScaleOf(double threshold) => Math.Max(threshold / QuantMax, MinScale);

    /// <summary>Fake-quantizes x on the per-tensor grid of scale.</summary>
    public static Tensor PerTensor(Tensor x, double scale) =>
        F.fake_quantize_per_tensor_affine(x, scale, 0, QuantMin, QuantMax);

    /// <summary>Per-output-channel scales of a weight (dim 0 is the output channel): max |w_c| / 127, computed without gradient.</summary>
    public static Tensor WeightScales(Tensor weight)
    {
        using var _ = no_grad();
        using var flat = weight.detach().abs().flatten(1);
        var (values, indexes) = flat.max(1);
        indexes.Dispose();
        using (values)
            return values.div(QuantMax).clamp_min(MinScale).to(ScalarType.Float32);
    }

    /// <summary>Fake-quantizes a weight per output channel with abs-max scales (straight-through gradient to the weight).</summary>
    public static Tensor PerChannelWeight(Tensor weight)
    {
        using var scales = WeightScales(weight);
        using var zeroPoints = zeros(new[] { weight.size(0) }, ScalarType.Int32, weight.device);
        return F.fake_quantize_per_channel_affine(weight, scales, zeroPoints, 0, QuantMin, QuantMax);
    }
}
