using Slim.Torch;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Compression.Quantization;

/// <summary>
/// Fake quantization on the grids of <see cref="Int8Grid"/>: weights symmetric per output channel on
/// [-127, 127], activations per tensor with zero point 0 (int8 [-128, 127] or uint8 [0, 255]). It rounds to
/// the grid and back to float with a straight-through gradient (ATen's fake_quantize ops: gradient 1
/// inside the clamp range, 0 outside).
/// </summary>
public static class FakeQuant
{
    /// <summary>The smallest scale used, so that an all-zero tensor still has a valid grid (PyTorch's observers use the same float epsilon).</summary>
    public const double MinScale = 1.1920928955078125e-07;

    /// <summary>The code a threshold maps to: 127 (symmetric int8) or 255 (uint8, non-negative inputs).</summary>
    public static long QuantMaxOf(bool unsigned) => Int8Grid.Max(Int8Grid.TypeOf(unsigned));

    /// <summary>The scale of a grid whose largest code stands for threshold (symmetric int8, or uint8 from 0 when unsigned).</summary>
    public static double ScaleOf(double threshold, bool unsigned = false) => Math.Max(threshold / QuantMaxOf(unsigned), MinScale);

    /// <summary>
    /// Fake-quantizes x on the per-tensor grid of scale, zero point 0: codes [-128, 127], or [0, 255] when
    /// unsigned (ONNX uint8 with zero point 0, where ONNX Runtime drops a ReLU before the QuantizeLinear
    /// and fuses DequantizeLinear → Conv → QuantizeLinear into QLinearConv) — exactly what QuantizeLinear and
    /// DequantizeLinear compute.
    /// </summary>
    public static Tensor PerTensor(Tensor x, double scale, bool unsigned = false)
    {
        var type = Int8Grid.TypeOf(unsigned);
        if (x.requires_grad) return F.fake_quantize_per_tensor_affine(x, scale, 0, Int8Grid.Min(type), Int8Grid.Max(type));
        // Without a gradient to carry, the computation of ONNX QuantizeLinear itself: x divided by the scale (ATen's
        // fake quantizer multiplies by the float reciprocal, which rounds differently at one value in a few hundred
        // thousand, and each such flip spreads through the layers after it).
        float s = (float)scale;
        using var divided = x.div(s);
        using var rounded = divided.round();
        using var clamped = rounded.clamp(Int8Grid.Min(type), Int8Grid.Max(type));
        return clamped.mul(s);
    }

    /// <summary>Per-output-channel scales of a weight (dim 0 is the output channel): max |w_c| / quantMax (127 for 8 bits, 63 for 7), computed without gradient.</summary>
    public static Tensor WeightScales(Tensor weight, long quantMax = Int8Grid.WeightMax)
    {
        using var _ = no_grad();
        using var flat = weight.detach().abs().flatten(1);
        var (values, indexes) = flat.max(1);
        indexes.Dispose();
        using (values)
            return values.div(quantMax).clamp_min(MinScale).to(ScalarType.Float32);
    }

    /// <summary>Fake-quantizes a weight per output channel with abs-max scales (straight-through gradient to the weight).</summary>
    public static Tensor PerChannelWeight(Tensor weight, long quantMax = Int8Grid.WeightMax)
    {
        using var scales = WeightScales(weight, quantMax);
        using var zeroPoints = zeros(new[] { weight.size(0) }, ScalarType.Int32, weight.device);
        return F.fake_quantize_per_channel_affine(weight, scales, zeroPoints, 0, -quantMax, quantMax);
    }
}
