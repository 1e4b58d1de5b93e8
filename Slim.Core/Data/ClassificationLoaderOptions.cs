namespace Slim.Data;

/// <summary>Options of <see cref="ClassificationLoader"/>; <see cref="Validate"/> names the first bad field.</summary>
public sealed record ClassificationLoaderOptions
{
    /// <summary>Images per batch.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Training: seeded shuffle per epoch, random horizontal flip when <see cref="RandomFlip"/>, drop the last partial batch.</summary>
    public bool Train { get; init; } = true;

    /// <summary>Seed of the shuffle and the flips.</summary>
    public int Seed { get; init; }

    /// <summary>Data-parallel training: this rank's share of every training batch (null: the whole batch).</summary>
    public DataShard? Shard { get; init; }

    /// <summary>Side of the (square) network input; images are resized (bilinear) when it differs from theirs.</summary>
    public int ImageSize { get; init; } = 28;

    /// <summary>1 (gray) or 3 (gray replicated to RGB, for ImageNet-style backbones).</summary>
    public int Channels { get; init; } = 1;

    /// <summary>Per-channel mean of pixels scaled to [0, 1]; null with <see cref="Std"/> null: only scale to [0, 1].</summary>
    public IReadOnlyList<float>? Mean { get; init; }

    /// <summary>Per-channel standard deviation; see <see cref="Mean"/>.</summary>
    public IReadOnlyList<float>? Std { get; init; }

    /// <summary>Mirror training images with probability 0.5.</summary>
    public bool RandomFlip { get; init; }

    /// <summary>Background threads (0: prepare on the consumer's thread).</summary>
    public int Workers { get; init; } = 1;

    /// <summary>Batches prepared ahead of the consumer at most.</summary>
    public int Prefetch { get; init; } = 4;

    /// <summary>Fashion-MNIST's own statistics (mean 0.2860, std 0.3530), for one channel.</summary>
    public static readonly float[] FashionMnistMean = { 0.2860f }, FashionMnistStd = { 0.3530f };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (BatchSize < 1) throw new ArgumentException($"BatchSize must be at least 1, got {BatchSize}", nameof(BatchSize));
        if (ImageSize < 4) throw new ArgumentException($"ImageSize must be at least 4, got {ImageSize}", nameof(ImageSize));
        if (Channels is not (1 or 3)) throw new ArgumentException($"Channels must be 1 or 3, got {Channels}", nameof(Channels));
        if ((Mean is null) != (Std is null)) throw new ArgumentException("give both Mean and Std, or neither", nameof(Mean));
        if (Mean is not null && (Mean.Count != Channels || Std!.Count != Channels || Std.Any(s => s == 0)))
            throw new ArgumentException($"Mean and Std need {Channels} value(s) each, Std non-zero", nameof(Mean));
        if (Workers < 0) throw new ArgumentException($"Workers must be 0 or more, got {Workers}", nameof(Workers));
        if (Prefetch < 1) throw new ArgumentException($"Prefetch must be at least 1, got {Prefetch}", nameof(Prefetch));
    }
}
