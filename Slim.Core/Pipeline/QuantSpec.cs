namespace Slim.Pipeline;

/// <summary>
<<<<<<< HEAD
/// What the INT8 (QDQ) exporter needs for one quantized layer of the quant stage's float twin:
/// the layer computes conv/linear(DQ(Q(x; InputScale, InputZeroPoint)), DQ(Q(w; WeightScales[c], 0)))
/// with symmetric codes in [-127, 127], the weight per output channel (axis 0).
/// </summary>
/// <param name="ModulePath">The Conv2d/Linear module path in the twin ("backbone.conv1.conv").</param>
/// <param name="WeightScales">Per-output-channel weight scales (zero point 0).</param>
/// <param name="InputScale">The input activation scale.</param>
/// <param name="InputZeroPoint">The input zero point (0: symmetric).</param>
/// <param name="Int8">Whether the input activation is quantized to int8 (false: only the weight is).</param>
=======
/// INT8 parameters of one quantized conv/linear layer as the quant stage writes them (quant.json): the
/// export of the float twin checkpoint writes that layer in QDQ form with these scales.
/// </summary>
/// <param name="ModulePath">Module path of the conv2d or linear layer in the twin model ("backbone.conv1.conv").</param>
/// <param name="WeightScales">One positive scale per output channel, for the BN-folded weight (symmetric, zero point 0).</param>
/// <param name="InputScale">Positive scale of the layer's input activation.</param>
/// <param name="InputZeroPoint">Zero point of the input activation (0 for the symmetric int8 activations Slim uses).</param>
/// <param name="Int8">True when the input activation is signed int8; false means unsigned uint8.</param>
>>>>>>> stage-export
public sealed record QuantSpec(string ModulePath, float[] WeightScales, float InputScale, int InputZeroPoint, bool Int8);
