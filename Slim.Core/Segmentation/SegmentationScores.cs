namespace Slim.Segmentation;

/// <summary>What a <see cref="ConfusionMatrix"/> says: per-class IoU and accuracy (null for a class absent from the ground truth) and the means.</summary>
public sealed record SegmentationScores
{
    /// <summary>IoU of each class, null where the ground truth has no pixel of it.</summary>
    public required IReadOnlyList<double?> ClassIou { get; init; }

    /// <summary>Accuracy (recall) of each class, null where the ground truth has no pixel of it.</summary>
    public required IReadOnlyList<double?> ClassAccuracy { get; init; }

    /// <summary>Ground-truth pixels of each class.</summary>
    public required IReadOnlyList<long> ClassPixels { get; init; }

    /// <summary>Mean IoU over the classes present in the ground truth.</summary>
    public required double MeanIou { get; init; }

    /// <summary>Mean class accuracy over the classes present in the ground truth (class-balanced accuracy).</summary>
    public required double MeanClassAccuracy { get; init; }

    /// <summary>Share of counted pixels predicted right.</summary>
    public required double PixelAccuracy { get; init; }

    /// <summary>Cohen's kappa of the predictions against the ground truth.</summary>
    public required double Kappa { get; init; }

    /// <summary>Pixels counted.</summary>
    public required long Pixels { get; init; }

    /// <summary>Ground-truth pixels left out (the ignore index).</summary>
    public required long IgnoredPixels { get; init; }
}
