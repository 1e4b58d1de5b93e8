namespace Slim.Detection;

/// <summary>Settings of <see cref="YoloV3Loss"/> (PaddleDetection's YOLOv3Loss and Gt2YoloTarget).</summary>
public sealed record YoloV3LossOptions
{
    /// <summary>Anchors, masks, strides and class count of the head.</summary>
    public required YoloGeometry Geometry { get; init; }

    /// <summary>A negative cell whose predicted box overlaps some ground truth by more than this IoU
    /// gets no objectness loss (it is probably a good box of another anchor).</summary>
    public double IgnoreThreshold { get; init; } = 0.7;

    /// <summary>Smooth the one-hot class targets to (1 - eps, eps).</summary>
    public bool LabelSmooth { get; init; }

    /// <summary>Smoothing eps; null means PaddleDetection's min(1/C, 1/40).</summary>
    public double? LabelSmoothEpsilon { get; init; }

    /// <summary>The eps actually used (0 when smoothing is off).</summary>
    public double EffectiveLabelSmoothEpsilon =>
        !LabelSmooth ? 0 : LabelSmoothEpsilon ?? Math.Min(1.0 / Geometry.NumClasses, 1.0 / 40);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        Geometry.Validate();
        if (!(IgnoreThreshold >= 0 && IgnoreThreshold <= 1))
            throw new ArgumentException($"YoloV3LossOptions.IgnoreThreshold must be in [0, 1], got {IgnoreThreshold}");
        if (LabelSmoothEpsilon is double e && !(e >= 0 && e < 0.5))
            throw new ArgumentException($"YoloV3LossOptions.LabelSmoothEpsilon must be in [0, 0.5), got {e}");
    }
}
