namespace Slim.Detection;

/// <summary>Settings of <see cref="YoloBoxDecoder"/> (PaddleDetection's YOLOBox followed by MultiClassNMS).</summary>
public sealed record YoloBoxDecoderOptions
{
    /// <summary>Anchors, masks, strides and class count of the head.</summary>
    public required YoloGeometry Geometry { get; init; }

    /// <summary>Cells whose objectness is below this produce no box (YOLOBox's conf_thresh).</summary>
    public double ConfidenceThreshold { get; init; } = 0.005;

    /// <summary>Clip boxes to the image: [0, width - 1] x [0, height - 1].</summary>
    public bool ClipBoxes { get; init; } = true;

    /// <summary>Suppression settings; the score threshold there is the detection score threshold (0.01 for evaluation).</summary>
    public NmsOptions Nms { get; init; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        Geometry.Validate();
        Nms.Validate();
        if (!(ConfidenceThreshold >= 0 && ConfidenceThreshold < 1))
            throw new ArgumentException($"YoloBoxDecoderOptions.ConfidenceThreshold must be in [0, 1), got {ConfidenceThreshold}");
    }
}
