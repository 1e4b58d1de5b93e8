using Slim.Data.Transforms;
using Slim.Torch;

namespace Slim.Data;

/// <summary>
/// Turns a <see cref="DetectionDataset"/> into <see cref="DetectionBatch"/>es. Background threads decode
/// and augment images into plain arrays; the consumer's thread turns each into tensors, so the tensors
/// belong to the caller's current <see cref="DisposeScope"/> (if any) and to the batch's Dispose.
/// Every random choice is seeded from (seed, epoch, image index) or (seed, epoch, batch index), so a
/// batch is the same whatever the thread timing, and an epoch can start at any batch (exact resume).
/// </summary>
public sealed class DetectionLoader
{
    private readonly DetectionDataset _dataset;
    private readonly DetectionLoaderOptions _options;
    private readonly IReadOnlyList<IDetectionTransform> _transforms;
    private readonly float[] _mean, _std;

    /// <summary>Creates a loader over <paramref name="dataset"/>.</summary>
    public DetectionLoader(DetectionDataset dataset, DetectionLoaderOptions options)
    {
        options.Validate();
        _dataset = dataset;
        _options = options;
        _transforms = options.SampleTransforms ?? DetectionTransforms.YoloTrain();
        _mean = options.Mean.ToArray();
        _std = options.Std.ToArray();
        if (options.Train && dataset.Samples.Count < options.BatchSize)
            throw new ArgumentException($"the dataset '{dataset.Source}' has {dataset.Samples.Count} images, fewer than one training batch of {options.BatchSize}");
    }

    /// <summary>The dataset being loaded.</summary>
    public DetectionDataset Dataset => _dataset;

    /// <summary>The options in use.</summary>
    public DetectionLoaderOptions Options => _options;

    /// <summary>Batches per epoch (training drops the last partial batch; evaluation keeps it).</summary>
    public int BatchesPerEpoch => _options.Train
        ? _dataset.Samples.Count / _options.BatchSize
        : (_dataset.Samples.Count + _options.BatchSize - 1) / _options.BatchSize;

    /// <summary>
    /// The batches of <paramref name="epoch"/>, starting at <paramref name="startBatch"/> (for resuming
    /// at an iteration). Dispose each batch (or create it inside a dispose scope). Breaking out of the
    /// loop stops the background threads.
    /// </summary>
    /// <exception cref="ImageException">An image of the epoch is missing or corrupt (thrown when its batch is reached).</exception>
    public IEnumerable<DetectionBatch> GetEpoch(int epoch, int startBatch = 0, CancellationToken cancellation = default)
    {
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), epoch, "epoch must be 0 or more");
        if (startBatch < 0 || startBatch > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"startBatch must be in [0, {BatchesPerEpoch}]");
        var order = EpochOrder(epoch);
        foreach (var prepared in OrderedPrefetcher.Run(startBatch, BatchesPerEpoch, b => Prepare(order, epoch, b),
                     _options.Workers, _options.Prefetch, cancellation))
            yield return prepared.ToBatch();
    }

    /// <summary>Prepares one batch on the calling thread (same content as <see cref="GetEpoch"/> yields for it).</summary>
    public DetectionBatch GetBatch(int epoch, int batchIndex)
    {
        if (batchIndex < 0 || batchIndex >= BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(batchIndex), batchIndex, $"batchIndex must be in [0, {BatchesPerEpoch})");
        return Prepare(EpochOrder(epoch), epoch, batchIndex).ToBatch();
    }

    /// <summary>The dataset indices of an epoch in loading order: a seeded shuffle when training.</summary>
    public int[] EpochOrder(int epoch)
    {
        var order = Enumerable.Range(0, _dataset.Samples.Count).ToArray();
        if (_options.Train) SeedMixer.Rng(_options.Seed, epoch, -1).Shuffle(order);
        return order;
    }

    private PreparedBatch Prepare(int[] order, int epoch, int batchIndex)
    {
        var (from, n) = DataShard.Positions(_options.Shard, batchIndex, _options.BatchSize, order.Length, _options.Train);
        int size = _options.InputSizes[0];
        var interp = _options.EvalInterpolation;
        if (_options.Train)
        {
            var batchRng = SeedMixer.Rng(_options.Seed, epoch, batchIndex, -2);
            size = _options.InputSizes[batchRng.Next(_options.InputSizes.Count)];
            interp = _options.TrainInterpolations[batchRng.Next(_options.TrainInterpolations.Count)];
        }
        int m = _options.MaxBoxes, plane = 3 * size * size;
        var p = new PreparedBatch(n, size, m);
        for (int k = 0; k < n; k++)
        {
            int index = order[from + k];
            var s = _dataset.Samples[index];
            var image = Image.Load(s.ImagePath); // always decoded as RGB
            var sample = new TransformSample(image, ScaleToFile(s, image));
            if (_options.Train)
            {
                var rng = SeedMixer.Rng(_options.Seed, epoch, index);
                foreach (var t in _transforms) t.Apply(sample, rng);
            }
            ResizeImage.Resize(sample, size, size, interp);
            sample.Image.WriteChw(p.Images, k * plane, true, _mean, _std);
            int j = 0;
            foreach (var b in sample.Boxes)
            {
                if (j == m) break;
                if (!(b.X2 > b.X1 && b.Y2 > b.Y1)) continue;
                int o = (k * m + j) * 4;
                p.Boxes[o] = (b.X1 + b.X2) / 2 / size;
                p.Boxes[o + 1] = (b.Y1 + b.Y2) / 2 / size;
                p.Boxes[o + 2] = (b.X2 - b.X1) / size;
                p.Boxes[o + 3] = (b.Y2 - b.Y1) / size;
                p.Classes[k * m + j] = b.ClassIndex;
                p.Scores[k * m + j] = 1;
                j++;
            }
            p.Infos[k] = new ImageInfo(s.ImageId, s.ImagePath, image.Width, image.Height, size, size);
        }
        return p;
    }

    // Annotations give boxes in the annotated size; if the file differs, follow the file.
    private static IEnumerable<BoxAnnotation> ScaleToFile(DetectionSample s, Image image)
    {
        if (image.Width == s.Width && image.Height == s.Height) return s.Boxes;
        float sx = (float)image.Width / s.Width, sy = (float)image.Height / s.Height;
        return s.Boxes.Select(b => b with { X1 = b.X1 * sx, X2 = b.X2 * sx, Y1 = b.Y1 * sy, Y2 = b.Y2 * sy });
    }

    /// <summary>A batch as managed arrays: what the worker threads produce.</summary>
    private sealed class PreparedBatch
    {
        public PreparedBatch(int n, int size, int maxBoxes)
        {
            N = n; Size = size; M = maxBoxes;
            Images = new float[n * 3 * size * size];
            Boxes = new float[n * maxBoxes * 4];
            Classes = new long[n * maxBoxes];
            Scores = new float[n * maxBoxes];
            Infos = new ImageInfo[n];
        }

        public int N { get; }
        public int Size { get; }
        public int M { get; }
        public float[] Images { get; }
        public float[] Boxes { get; }
        public long[] Classes { get; }
        public float[] Scores { get; }
        public ImageInfo[] Infos { get; }

        public DetectionBatch ToBatch() => new()
        {
            Images = torch.tensor(Images, N, 3, Size, Size),
            GtBoxes = torch.tensor(Boxes, N, M, 4),
            GtClasses = torch.tensor(Classes, N, M),
            GtScores = torch.tensor(Scores, N, M),
            Infos = Infos,
        };
    }
}
