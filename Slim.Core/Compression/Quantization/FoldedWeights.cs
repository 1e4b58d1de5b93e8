namespace Slim.Compression.Quantization;

/// <summary>
/// The float weight and bias a quantized layer computes with, any BatchNorm folded in: what a float twin
/// checkpoint stores for the layer, and what its <see cref="QuantizedLayer.WeightScales"/> were taken from.
/// </summary>
/// <param name="Weight">Row-major in <paramref name="Shape"/>.</param>
/// <param name="Shape">The weight's shape ([out, in/groups, k, k] or [out, in]).</param>
/// <param name="Bias">The folded bias [out], or null.</param>
public sealed record FoldedWeights(float[] Weight, long[] Shape, float[]? Bias);
