namespace Slim.Compression.Quantization;

/// <summary>A quantization input error: an unknown not_quant pattern, an empty calibration set, a checkpoint of another architecture.</summary>
public sealed class QuantizationException(string message) : SlimException(message);
