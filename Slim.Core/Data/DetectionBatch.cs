using Slim.Torch;

namespace Slim.Data;

/// <summary>Where one image of a batch came from and how it was resized.</summary>
/// <param name="ImageId">The dataset's image id (COCO image id; VOC: index in the image list).</param>
/// <param name="Path">The image file.</param>
/// <param name="OriginalWidth">Width of the decoded file, in pixels.</param>
/// <param name="OriginalHeight">Height of the decoded file, in pixels.</param>
/// <param name="InputWidth">Width of the network input the image was resized to.</param>
/// <param name="InputHeight">Height of the network input the image was resized to.</param>
public sealed record ImageInfo(long ImageId, string Path, int OriginalWidth, int OriginalHeight, int InputWidth, int InputHeight);

/// <summary>
/// A batch as the detection trainer, loss and evaluator take it. Ground truth is padded to
/// M boxes per image; padding rows have zero width and height and are ignored by the loss.
/// </summary>
public sealed class DetectionBatch : IImageBatch
{
    /// <summary>[N, 3, H, W] float32, normalized (mean/std), RGB.</summary>
    public required Tensor Images { get; init; }

    /// <summary>[N, M, 4] float32: centre x, centre y, width, height, each divided by the input width/height.</summary>
    public required Tensor GtBoxes { get; init; }

    /// <summary>[N, M] int64 class indices (0 for padding rows).</summary>
    public required Tensor GtClasses { get; init; }

    /// <summary>[N, M] float32 per-box weight (1 for real boxes, 0 for padding).</summary>
    public required Tensor GtScores { get; init; }

    /// <summary>One entry per image, in batch order.</summary>
    public required IReadOnlyList<ImageInfo> Infos { get; init; }

    public int Count => Infos.Count;

    public void Dispose()
    {
        Images.Dispose();
        GtBoxes.Dispose();
        GtClasses.Dispose();
        GtScores.Dispose();
    }
}
