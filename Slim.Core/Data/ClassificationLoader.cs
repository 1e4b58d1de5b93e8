using Slim.Torch;

namespace Slim.Data;

/// <summary>
/// Batches of Fashion-MNIST (or any 1-channel image set in <see cref="FashionMnistData"/> form) for
/// classifiers: [N, C, S, S] float images and [N] int64 labels. Same threading and determinism
/// contract as <see cref="DetectionLoader"/>: the content of a batch depends only on (seed, epoch, batch).
/// </summary>
public sealed class ClassificationLoader
{
    private readonly ILabeledImages _data;
    private readonly ClassificationLoaderOptions _options;

    /// <summary>Creates a loader over <paramref name="data"/>.</summary>
    public ClassificationLoader(ILabeledImages data, ClassificationLoaderOptions options)
    {
        options.Validate();
        if (data.Count == 0) throw new ArgumentException("the image set is empty", nameof(data));
        _data = data;
        _options = options;
    }

    /// <summary>Batches per epoch (training drops the last partial batch).</summary>
    public int BatchesPerEpoch => _options.Train ? _data.Count / _options.BatchSize : (_data.Count + _options.BatchSize - 1) / _options.BatchSize;

    /// <summary>The batches of an epoch from <paramref name="startBatch"/> on; dispose each.</summary>
    public IEnumerable<ClassificationBatch> GetEpoch(int epoch, int startBatch = 0, CancellationToken cancellation = default)
    {
        if (startBatch < 0 || startBatch > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"startBatch must be in [0, {BatchesPerEpoch}]");
        var order = Enumerable.Range(0, _data.Count).ToArray();
        if (_options.Train) SeedMixer.Rng(_options.Seed, epoch, -1).Shuffle(order);
        foreach (var (images, labels, indices) in OrderedPrefetcher.Run(startBatch, BatchesPerEpoch, b => Prepare(order, epoch, b),
                     _options.Workers, _options.Prefetch, cancellation))
        {
            int s = _options.ImageSize;
            yield return new ClassificationBatch
            {
                Images = torch.tensor(images, indices.Length, _options.Channels, s, s),
                Labels = torch.tensor(labels, indices.Length),
                Indices = indices,
            };
        }
    }

    private (float[] Images, long[] Labels, int[] Indices) Prepare(int[] order, int epoch, int batchIndex)
    {
        var (from, n) = DataShard.Positions(_options.Shard, batchIndex, _options.BatchSize, order.Length, _options.Train);
        int s = _options.ImageSize, c = _options.Channels, plane = c * s * s;
        var images = new float[n * plane];
        var labels = new long[n];
        var indices = new int[n];
        float[]? mean = _options.Mean?.ToArray(), std = _options.Std?.ToArray();
        for (int k = 0; k < n; k++)
        {
            int index = order[from + k];
            var img = _data.GetImage(index);
            if (img.Width != s || img.Height != s) img = img.Resize(s, s, Interpolation.Linear);
            if (_options.Train && _options.RandomFlip && SeedMixer.Rng(_options.Seed, epoch, index).NextDouble() < 0.5)
            {
                var t = new Transforms.TransformSample(img, Array.Empty<BoxAnnotation>());
                Transforms.RandomFlip.Flip(t);
                img = t.Image;
            }
            if (c == 3) img = img.ToRgb();
            img.WriteChw(images, k * plane, true, mean, std);
            labels[k] = _data.LabelOf(index);
            indices[k] = index;
        }
        return (images, labels, indices);
    }
}
