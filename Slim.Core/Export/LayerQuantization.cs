namespace Slim.Export;

/// <summary>Integer type of a quantized activation.</summary>
public enum QuantizedType
{
    /// <summary>Unsigned 8-bit, range [0, 255] (the usual choice after ReLU-like activations).</summary>
    UInt8,
    /// <summary>Signed 8-bit, range [-128, 127].</summary>
    Int8,
}

/// <summary>
/// INT8 parameters of one convolution or fully connected layer, as the quantization stage determined
/// them. Weights are quantized symmetrically per output channel to int8 in [-127, 127]
/// (q = round(w / WeightScales[c])); the layer's input activation per tensor
/// (q = clamp(round(x / InputScale) + InputZeroPoint)). Weight scales refer to the weight as exported,
/// that is after a following batch norm has been folded into the convolution.
/// </summary>
/// <param name="WeightScales">One positive scale per output channel.</param>
/// <param name="InputScale">Positive scale of the input activation.</param>
/// <param name="InputZeroPoint">Zero point of the input activation, within the range of <paramref name="InputType"/>.</param>
/// <param name="InputType">Integer type of the input activation.</param>
public sealed record LayerQuantization(float[] WeightScales, float InputScale, int InputZeroPoint, QuantizedType InputType = QuantizedType.UInt8)
{
    /// <summary>Smallest integer of the activation type.</summary>
    public int InputMin => InputType == QuantizedType.UInt8 ? 0 : -128;

    /// <summary>Largest integer of the activation type.</summary>
    public int InputMax => InputType == QuantizedType.UInt8 ? 255 : 127;
}
