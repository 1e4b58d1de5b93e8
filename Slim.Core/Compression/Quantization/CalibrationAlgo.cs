namespace Slim.Compression.Quantization;

/// <summary>Post-training calibration algorithms: how an input threshold is chosen from the statistics of |x|. A recipe spells the members in snake_case (abs_max, avg, hist, kl, mse).</summary>
public enum CalibrationAlgo
{
    /// <summary>The largest |x| seen.</summary>
    AbsMax,
    /// <summary>The mean over batches of each batch's largest |x|.</summary>
    Avg,
    /// <summary>A percentile of |x| (the histogram's).</summary>
    Hist,
    /// <summary>Entropy calibration (TensorRT's KL divergence search).</summary>
    Kl,
    /// <summary>The threshold of least squared quantization error.</summary>
    Mse,
}
