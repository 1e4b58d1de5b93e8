using Slim.Torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// A fake-quantization point on an activation that is not the input of a quantized layer: the output of
/// a conv (with its folded batch norm) before an activation that ONNX Runtime cannot fold into the conv
/// (LeakyReLU, HardSwish, a float op), or an input of a concat or residual add. Its forward is the
/// quantize–dequantize of <see cref="ActivationQuantizer"/>: in the INT8 export it becomes one
/// QuantizeLinear/DequantizeLinear pair with the same scale, which is what lets ONNX Runtime run the conv
/// as QLinearConv and what follows as QLinearLeakyRelu, QLinearConcat or QLinearAdd.
/// </summary>
public sealed class QuantPoint : ActivationQuantizer
{
    /// <summary>A point at module path path (where it sits in the quantized model).</summary>
    public QuantPoint(string path, double observerMomentum = 0.9) : base("QuantPoint", path, observerMomentum) { }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => QuantizeInput(input);
}
