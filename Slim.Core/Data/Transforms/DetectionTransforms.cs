namespace Slim.Data.Transforms;

/// <summary>The standard pipelines and the normalization constants.</summary>
public static class DetectionTransforms
{
    /// <summary>ImageNet mean, RGB, for pixels scaled to [0, 1].</summary>
    public static readonly float[] ImageNetMean = { 0.485f, 0.456f, 0.406f };

    /// <summary>ImageNet standard deviation, RGB, for pixels scaled to [0, 1].</summary>
    public static readonly float[] ImageNetStd = { 0.229f, 0.224f, 0.225f };

    /// <summary>
    /// PaddleDetection's YOLOv3 per-sample training augmentation: RandomDistort, RandomExpand (mean fill,
    /// ratio up to 4), RandomCrop (IoU-constrained), RandomFlip. The batch step (random size and
    /// interpolation per batch, normalize, CHW, pad boxes) is done by <see cref="DetectionLoader"/>.
    /// </summary>
    public static IReadOnlyList<IDetectionTransform> YoloTrain() => new IDetectionTransform[]
    {
        new RandomDistort(), new RandomExpand(), new RandomCrop(), new RandomFlip(),
    };

    /// <summary>
    /// The multi-scale sizes PaddleDetection's YOLOv3 uses for an evaluation size of <paramref name="inputSize"/>:
    /// multiples of 32 from about 0.53x to 1x (320-608 for 608), at least 32.
    /// </summary>
    public static int[] MultiScaleSizes(int inputSize)
    {
        int lo = Math.Max(32, (int)Math.Round(inputSize * 320.0 / 608 / 32) * 32);
        int hi = Math.Max(lo, inputSize / 32 * 32);
        return Enumerable.Range(0, (hi - lo) / 32 + 1).Select(i => lo + 32 * i).ToArray();
    }
}
