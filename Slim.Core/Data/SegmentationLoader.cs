using Slim.Torch;

namespace Slim.Data;

/// <summary>Options of <see cref="SegmentationLoader"/>.</summary>
public sealed record SegmentationLoaderOptions
{
    public int BatchSize { get; init; } = 8;

    /// <summary>Shuffle each epoch, drop the last partial batch, and flip at random when <see cref="RandomFlip"/>.</summary>
    public bool Train { get; init; } = true;

    public int Seed { get; init; }

    /// <summary>Data-parallel training: this rank's share of every training batch (null: the whole batch).</summary>
    public DataShard? Shard { get; init; }

    /// <summary>Square side images and label maps are resized to (bilinear for images, nearest for labels).</summary>
    public int ImageSize { get; init; } = 256;

    /// <summary>RGB mean and std of pixels on [0, 1]; null leaves pixels on [0, 1].</summary>
    public IReadOnlyList<float>? Mean { get; init; }
    public IReadOnlyList<float>? Std { get; init; }

    /// <summary>Mirror image and labels together, half the time (training only).</summary>
    public bool RandomFlip { get; init; } = true;

    public int Workers { get; init; } = 1;
    public int Prefetch { get; init; } = 4;

    /// <summary>When positive, a label at or above it other than <see cref="IgnoreIndex"/> fails the batch naming the file (0: unchecked).</summary>
    public int NumClasses { get; init; }

    /// <summary>The label no class has (PaddleSeg's ignore_index).</summary>
    public int IgnoreIndex { get; init; } = 255;

    /// <summary>Throws naming the first bad field.</summary>
    public void Validate()
    {
        if (BatchSize < 1) throw new ArgumentException($"BatchSize {BatchSize}: at least 1");
        if (ImageSize < 8) throw new ArgumentException($"ImageSize {ImageSize}: at least 8");
        if ((Mean is null) != (Std is null) || Mean is { Count: not 3 } || Std is { Count: not 3 }) throw new ArgumentException("Mean and Std: both or neither, three values each");
        if (Workers < 0 || Prefetch < 1) throw new ArgumentException($"Workers {Workers} must be ≥ 0 and Prefetch {Prefetch} ≥ 1");
    }
}

/// <summary>A batch of images and their per-pixel labels.</summary>
public sealed class SegmentationBatch : IImageBatch
{
    /// <summary>[N, 3, S, S] float32 images, normalized.</summary>
    public required Tensor Images { get; init; }

    /// <summary>[N, S, S] int64 labels (the ignore index where the label map has it).</summary>
    public required Tensor Labels { get; init; }

    /// <summary>Dataset indices of the samples, in batch order.</summary>
    public required IReadOnlyList<int> Indices { get; init; }

    public int Count => Indices.Count;

    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

/// <summary>
/// Batches of a <see cref="SegmentationDataset"/>: images resized bilinearly, label maps by nearest neighbour (so labels
/// stay labels), mirrored together at random in training. Same determinism contract as the other loaders: a batch
/// depends only on (seed, epoch, batch), whatever the worker count.
/// </summary>
public sealed class SegmentationLoader
{
    private readonly SegmentationDataset _data;
    private readonly SegmentationLoaderOptions _options;

    public SegmentationLoader(SegmentationDataset data, SegmentationLoaderOptions options)
    {
        options.Validate();
        if (data.Samples.Count == 0) throw new ArgumentException("the dataset is empty", nameof(data));
        _data = data;
        _options = options;
    }

    /// <summary>Batches per epoch (training drops the last partial batch).</summary>
    public int BatchesPerEpoch => _options.Train ? _data.Samples.Count / _options.BatchSize : (_data.Samples.Count + _options.BatchSize - 1) / _options.BatchSize;

    /// <summary>The batches of an epoch from <paramref name="startBatch"/> on; dispose each.</summary>
    public IEnumerable<SegmentationBatch> GetEpoch(int epoch, int startBatch = 0, CancellationToken cancellation = default)
    {
        if (startBatch < 0 || startBatch > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"startBatch must be in [0, {BatchesPerEpoch}]");
        var order = Enumerable.Range(0, _data.Samples.Count).ToArray();
        if (_options.Train) SeedMixer.Rng(_options.Seed, epoch, -1).Shuffle(order);
        int s = _options.ImageSize;
        foreach (var (images, labels, indices) in OrderedPrefetcher.Run(startBatch, BatchesPerEpoch, b => Prepare(order, epoch, b),
                     _options.Workers, _options.Prefetch, cancellation))
            yield return new SegmentationBatch
            {
                Images = torch.tensor(images, indices.Length, 3, s, s),
                Labels = torch.tensor(labels, indices.Length, s, s),
                Indices = indices,
            };
    }

    private (float[] Images, long[] Labels, int[] Indices) Prepare(int[] order, int epoch, int batchIndex)
    {
        var (from, n) = DataShard.Positions(_options.Shard, batchIndex, _options.BatchSize, order.Length, _options.Train);
        int s = _options.ImageSize, plane = 3 * s * s;
        var images = new float[n * plane];
        var labels = new long[n * s * s];
        var indices = new int[n];
        float[]? mean = _options.Mean?.ToArray(), std = _options.Std?.ToArray();
        for (int k = 0; k < n; k++)
        {
            int index = order[from + k];
            var sample = _data.Samples[index];
            var img = Image.Load(sample.ImagePath);
            var map = LabelMap.Load(sample.LabelPath);
            if (img.Width != map.Width || img.Height != map.Height)
                throw new DatasetException(sample.LabelPath, $"{sample.LabelPath} is {map.Width}×{map.Height} but its image {sample.ImagePath} is {img.Width}×{img.Height}");
            if (_options.NumClasses > 0)
                for (int i = 0; i < map.Labels.Length; i++)
                {
                    int l = map.Labels[i];
                    if (l >= _options.NumClasses && l != _options.IgnoreIndex)
                        throw new DatasetException(sample.LabelPath, $"{sample.LabelPath}: pixel ({i % map.Width}, {i / map.Width}) has label {l}, but the model has {_options.NumClasses} classes " +
                            $"(labels 0-{_options.NumClasses - 1}, {_options.IgnoreIndex} ignored); raise model.num_classes or fix the label map");
                }
            var label = new Image(map.Width, map.Height, 1, map.Labels);
            if (img.Width != s || img.Height != s)
            {
                img = img.Resize(s, s, Interpolation.Linear);
                label = label.Resize(s, s, Interpolation.Nearest);
            }
            bool flip = _options.Train && _options.RandomFlip && SeedMixer.Rng(_options.Seed, epoch, index).NextDouble() < 0.5;
            if (flip)
            {
                img = Mirror(img);
                label = Mirror(label);
            }
            img.WriteChw(images, k * plane, true, mean, std);
            for (int i = 0; i < s * s; i++) labels[k * s * s + i] = label.Pixels[i];
            indices[k] = index;
        }
        return (images, labels, indices);
    }

    /// <summary>The image mirrored left to right.</summary>
    internal static Image Mirror(Image image)
    {
        var px = new byte[image.Pixels.Length];
        int c = image.Channels, w = image.Width;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < w; x++)
                Array.Copy(image.Pixels, (y * w + x) * c, px, (y * w + w - 1 - x) * c, c);
        return new Image(w, image.Height, c, px);
    }
}
