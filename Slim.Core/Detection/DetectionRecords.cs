namespace Slim.Detection;

/// <summary>One detected object: a box in original-image pixel coordinates with its class and score.</summary>
/// <param name="ImageId">The dataset's image id (<see cref="Slim.Data.ImageInfo.ImageId"/>).</param>
/// <param name="ClassId">Contiguous class index (0..C-1) as the model predicts it.</param>
/// <param name="Score">Objectness times class probability.</param>
/// <param name="X1">Left edge, pixels.</param>
/// <param name="Y1">Top edge, pixels.</param>
/// <param name="X2">Right edge, pixels.</param>
/// <param name="Y2">Bottom edge, pixels.</param>
public sealed record DetectedBox(long ImageId, int ClassId, float Score, float X1, float Y1, float X2, float Y2)
{
    /// <summary>The box in corner form.</summary>
    public Box Box => new(X1, Y1, X2, Y2);
}

/// <summary>One ground-truth object for AP evaluation.</summary>
/// <param name="ImageId">The dataset's image id.</param>
/// <param name="ClassId">Contiguous class index (0..C-1).</param>
/// <param name="X1">Left edge, pixels.</param>
/// <param name="Y1">Top edge, pixels.</param>
/// <param name="X2">Right edge, pixels.</param>
/// <param name="Y2">Bottom edge, pixels.</param>
/// <param name="IsCrowd">COCO iscrowd: a region of many objects; detections inside it are neither right nor wrong.</param>
/// <param name="IsDifficult">VOC difficult: ignored by the VOC evaluator (neither a hit nor a miss).</param>
/// <param name="Area">COCO's area field (the segmentation area in COCO files), used for the small/medium/large
/// ranges; null means the box's width times height.</param>
public sealed record GroundTruthBox(long ImageId, int ClassId, double X1, double Y1, double X2, double Y2,
    bool IsCrowd = false, bool IsDifficult = false, double? Area = null)
{
    /// <summary>The box in corner form.</summary>
    public Box Box => new(X1, Y1, X2, Y2);

    /// <summary>The area used for COCO's area ranges: <see cref="Area"/> if given, else width times height.</summary>
    public double EffectiveArea => Area ?? (X2 - X1) * (Y2 - Y1);
}
