using System.Text.Json.Serialization;

namespace Slim.Compression.Quantization;

/// <summary>The integer type of a quantized activation (quant.json spells it int8 or uint8).</summary>
public enum QuantDType
{
    /// <summary>Signed 8-bit (ONNX INT8): codes [-128, 127].</summary>
    [JsonStringEnumMemberName("int8")]
    Int8,
    /// <summary>Unsigned 8-bit (ONNX UINT8): codes [0, 255]; with zero point 0, inputs that are never negative.</summary>
    [JsonStringEnumMemberName("uint8")]
    UInt8,
}
