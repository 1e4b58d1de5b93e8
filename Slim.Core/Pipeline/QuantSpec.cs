namespace Slim.Pipeline;

/// <summary>
/// INT8 parameters of one quantized conv/linear layer as the quant stage writes them (quant.json): the
/// export of the float twin checkpoint writes that layer in QDQ form with these scales.
/// </summary>
/// <param name="ModulePath">Module path of the conv2d or linear layer in the twin model ("backbone.conv1.conv").</param>
/// <param name="WeightScales">One positive scale per output channel, for the BN-folded weight (symmetric, zero point 0).</param>
/// <param name="InputScale">Positive scale of the layer's input activation.</param>
/// <param name="InputZeroPoint">Zero point of the input activation (0 for the symmetric int8 activations Slim uses).</param>
/// <param name="Int8">True when the input activation is signed int8; false means unsigned uint8.</param>
public sealed record QuantSpec(string ModulePath, float[] WeightScales, float InputScale, int InputZeroPoint, bool Int8);
