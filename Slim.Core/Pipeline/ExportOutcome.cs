namespace Slim.Pipeline;

/// <summary>What the export stage wrote.</summary>
/// <param name="Fp32Path">model_fp32.onnx, or null when fp32 export is off.</param>
/// <param name="Fp32Bytes">Its size in bytes (0 when absent).</param>
/// <param name="Int8Path">model_int8.onnx, or null when there is no INT8 model (int8 off or no quant stage).</param>
/// <param name="Int8Bytes">Its size in bytes (0 when absent).</param>
/// <param name="QuantizedLayers">Conv/linear layers written in INT8 QDQ form (0 without an INT8 model).</param>
public sealed record ExportOutcome(string? Fp32Path, long Fp32Bytes, string? Int8Path, long Int8Bytes, int QuantizedLayers)
{
    /// <summary>How ONNX Runtime runs the INT8 model's quantized layers (null without an INT8 model).</summary>
    public Slim.Export.Int8DeploymentReport? Int8Deployment { get; init; }

    /// <summary>The exported models as (precision, path, bytes): "fp32" first, then "int8".</summary>
    public IEnumerable<(string Precision, string Path, long Bytes)> Models()
    {
        if (Fp32Path is not null) yield return ("fp32", Fp32Path, Fp32Bytes);
        if (Int8Path is not null) yield return ("int8", Int8Path, Int8Bytes);
    }
}
