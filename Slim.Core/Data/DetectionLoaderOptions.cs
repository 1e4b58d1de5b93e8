using Slim.Data.Transforms;

namespace Slim.Data;

/// <summary>Options of <see cref="DetectionLoader"/>; <see cref="Validate"/> names the first bad field.</summary>
public sealed record DetectionLoaderOptions
{
    /// <summary>Images per batch.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>
    /// Square input sizes. Training picks one per batch at random (PaddleDetection's BatchRandomResize);
    /// evaluation uses the first. Multiples of 32 for YOLOv3.
    /// </summary>
    public IReadOnlyList<int> InputSizes { get; init; } = new[] { 160 };

    /// <summary>
    /// Training mode: shuffles per epoch, applies <see cref="SampleTransforms"/>, random size and
    /// interpolation per batch, drops the last partial batch. Evaluation mode: dataset order,
    /// plain resize to <c>InputSizes[0]</c> with <see cref="EvalInterpolation"/>, keeps the last batch.
    /// </summary>
    public bool Train { get; init; } = true;

    /// <summary>Seed of the shuffling and every augmentation.</summary>
    public int Seed { get; init; }

    /// <summary>Data-parallel training: this rank's share of every training batch (null: the whole batch).</summary>
    public DataShard? Shard { get; init; }

    /// <summary>Background threads preparing batches (0: prepare on the consumer's thread).</summary>
    public int Workers { get; init; } = 2;

    /// <summary>Batches prepared ahead of the consumer at most.</summary>
    public int Prefetch { get; init; } = 4;

    /// <summary>Ground-truth rows per image (PaddleDetection's PadBox num_max_boxes); extra boxes are cut.</summary>
    public int MaxBoxes { get; init; } = 50;

    /// <summary>Per-sample training augmentation; null means <see cref="DetectionTransforms.YoloTrain"/>.</summary>
    public IReadOnlyList<IDetectionTransform>? SampleTransforms { get; init; }

    /// <summary>Interpolations drawn from per training batch (PaddleDetection draws from all of OpenCV's).</summary>
    public IReadOnlyList<Interpolation> TrainInterpolations { get; init; } =
        new[] { Interpolation.Nearest, Interpolation.Linear, Interpolation.Area, Interpolation.Cubic };

    /// <summary>Interpolation of the evaluation resize (PaddleDetection's YOLOv3 eval uses cubic).</summary>
    public Interpolation EvalInterpolation { get; init; } = Interpolation.Cubic;

    /// <summary>Normalization mean (RGB, of pixels in [0, 1]).</summary>
    public IReadOnlyList<float> Mean { get; init; } = DetectionTransforms.ImageNetMean;

    /// <summary>Normalization standard deviation (RGB, of pixels in [0, 1]).</summary>
    public IReadOnlyList<float> Std { get; init; } = DetectionTransforms.ImageNetStd;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (BatchSize < 1) throw new ArgumentException($"BatchSize must be at least 1, got {BatchSize}", nameof(BatchSize));
        if (InputSizes.Count == 0 || InputSizes.Any(s => s < 8))
            throw new ArgumentException($"InputSizes must list sizes of at least 8 pixels, got [{string.Join(", ", InputSizes)}]", nameof(InputSizes));
        if (Workers < 0) throw new ArgumentException($"Workers must be 0 or more, got {Workers}", nameof(Workers));
        if (Prefetch < 1) throw new ArgumentException($"Prefetch must be at least 1, got {Prefetch}", nameof(Prefetch));
        if (MaxBoxes < 1) throw new ArgumentException($"MaxBoxes must be at least 1, got {MaxBoxes}", nameof(MaxBoxes));
        if (TrainInterpolations.Count == 0) throw new ArgumentException("TrainInterpolations must not be empty", nameof(TrainInterpolations));
        if (Mean.Count != 3 || Std.Count != 3 || Std.Any(s => s == 0))
            throw new ArgumentException("Mean and Std need 3 values each, Std non-zero", nameof(Std));
    }
}
