namespace Slim.Pipeline;

/// <summary>
/// What the INT8 (QDQ) exporter needs for one quantized layer of the quant stage's float twin:
/// the layer computes conv/linear(DQ(Q(x; InputScale, InputZeroPoint)), DQ(Q(w; WeightScales[c], 0)))
/// with symmetric codes in [-127, 127], the weight per output channel (axis 0).
/// </summary>
/// <param name="ModulePath">The Conv2d/Linear module path in the twin ("backbone.conv1.conv").</param>
/// <param name="WeightScales">Per-output-channel weight scales (zero point 0).</param>
/// <param name="InputScale">The input activation scale.</param>
/// <param name="InputZeroPoint">The input zero point (0: symmetric).</param>
/// <param name="Int8">Whether the input activation is quantized to int8 (false: only the weight is).</param>
public sealed record QuantSpec(string ModulePath, float[] WeightScales, float InputScale, int InputZeroPoint, bool Int8);
