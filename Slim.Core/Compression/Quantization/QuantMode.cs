namespace Slim.Compression.Quantization;

/// <summary>How the quantization parameters are obtained. A recipe spells the members in snake_case (aware, post).</summary>
public enum QuantMode
{
    /// <summary>Quantization-aware training: the input thresholds follow a moving-average observer while fine-tuning.</summary>
    Aware,
    /// <summary>Post-training: the input thresholds come from calibration statistics.</summary>
    Post,
}
