namespace Slim.Data;

/// <summary>
/// One ground-truth box in pixel coordinates of its image (x1, y1 top-left, x2, y2 bottom-right).
/// </summary>
/// <param name="X1">Left edge.</param>
/// <param name="Y1">Top edge.</param>
/// <param name="X2">Right edge.</param>
/// <param name="Y2">Bottom edge.</param>
/// <param name="ClassIndex">Index into <see cref="DetectionDataset.ClassNames"/>.</param>
/// <param name="IsCrowd">COCO iscrowd: the box covers a crowd; AP evaluation ignores matches to it.</param>
/// <param name="IsDifficult">VOC difficult: ignored by VOC AP evaluation.</param>
/// <param name="Area">COCO's annotated area (segment area) in the original image, or the box area when
/// the annotation has none; used for the small/medium/large split. Transforms do not update it.</param>
public readonly record struct BoxAnnotation(float X1, float Y1, float X2, float Y2, int ClassIndex,
    bool IsCrowd = false, bool IsDifficult = false, float Area = 0)
{
    /// <summary>Box width (x2 - x1).</summary>
    public float Width => X2 - X1;
    /// <summary>Box height (y2 - y1).</summary>
    public float Height => Y2 - Y1;
}

/// <summary>One image of a detection dataset and its ground truth.</summary>
/// <param name="ImageId">COCO image id; VOC: index of the image in the split's image list.</param>
/// <param name="ImagePath">Absolute path of the image file.</param>
/// <param name="Width">Image width as annotated, in pixels.</param>
/// <param name="Height">Image height as annotated, in pixels.</param>
/// <param name="Boxes">Ground truth, clipped to the image; degenerate boxes already dropped.</param>
public sealed record DetectionSample(long ImageId, string ImagePath, int Width, int Height, IReadOnlyList<BoxAnnotation> Boxes);
