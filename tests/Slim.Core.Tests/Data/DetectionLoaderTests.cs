using Slim.Data;
using Slim.Torch;

namespace Slim.Core.Tests.Data;

public class DetectionLoaderTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly SyntheticDetectionResult _gen;
    private readonly DetectionDataset _train;

    public DetectionLoaderTests()
    {
        _gen = SyntheticDetectionGenerator.Generate(new SyntheticDetectionOptions
        {
            OutputDir = _dir.File("data"), Seed = 11, ImageCount = 12, ImageSize = 64, ValFraction = 0.25, ForceShapes = true,
        });
        _train = CocoDataset.Load(_gen.CocoAnnotations("train"), _gen.CocoImages);
    }

    public void Dispose() => _dir.Dispose();

    private static DetectionLoaderOptions TrainOptions(int workers) => new()
    {
        BatchSize = 4, InputSizes = new[] { 64, 96 }, Seed = 5, Workers = workers, Prefetch = 2, MaxBoxes = 6,
    };

    private static void AssertSameBatch(DetectionBatch a, DetectionBatch b)
    {
        Assert.Equal(a.Images.shape, b.Images.shape);
        Assert.Equal(a.Images.ToFloatArray(), b.Images.ToFloatArray());
        Assert.Equal(a.GtBoxes.ToFloatArray(), b.GtBoxes.ToFloatArray());
        Assert.Equal(a.GtClasses.ToInt64Array(), b.GtClasses.ToInt64Array());
        Assert.Equal(a.GtScores.ToFloatArray(), b.GtScores.ToFloatArray());
        Assert.Equal(a.Infos, b.Infos);
    }

    [Fact]
    public void SameSeedGivesIdenticalBatchesWhateverTheThreads()
    {
        var threaded = new DetectionLoader(_train, TrainOptions(workers: 3));
        var inline = new DetectionLoader(_train, TrainOptions(workers: 0));
        Assert.Equal(2, threaded.BatchesPerEpoch); // 9 images, batches of 4, last partial batch dropped
        for (int epoch = 0; epoch < 2; epoch++)
        {
            using var scope = torch.NewDisposeScope();
            var a = threaded.GetEpoch(epoch).ToList();
            var b = inline.GetEpoch(epoch).ToList();
            Assert.Equal(2, a.Count);
            for (int i = 0; i < a.Count; i++) AssertSameBatch(a[i], b[i]);
        }
    }

    [Fact]
    public void EpochsDifferAndResumeStartsAtTheRightBatch()
    {
        using var scope = torch.NewDisposeScope();
        var loader = new DetectionLoader(_train, TrainOptions(workers: 2));
        Assert.NotEqual(loader.EpochOrder(0), loader.EpochOrder(1));
        var full = loader.GetEpoch(1).ToList();
        var resumed = loader.GetEpoch(1, startBatch: 1).ToList();
        Assert.Single(resumed);
        AssertSameBatch(full[1], resumed[0]);
        AssertSameBatch(full[0], loader.GetBatch(1, 0));
        var other = loader.GetEpoch(2).First();
        Assert.NotEqual(full[0].Images.ToFloatArray(), other.Images.ToFloatArray());
        Assert.Empty(loader.GetEpoch(1, startBatch: loader.BatchesPerEpoch));
    }

    [Fact]
    public void EvalBatchesHoldNormalizedCentreBoxesPaddedWithZeros()
    {
        var loader = new DetectionLoader(_train, new DetectionLoaderOptions { Train = false, BatchSize = 4, InputSizes = new[] { 64 }, MaxBoxes = 6, Workers = 1 });
        Assert.Equal(3, loader.BatchesPerEpoch); // eval keeps the partial batch
        var batches = loader.GetEpoch(0).ToList();
        try
        {
            Assert.Equal(1, batches[2].Count);
            var b = batches[0];
            Assert.Equal(new long[] { 4, 3, 64, 64 }, b.Images.shape);
            Assert.Equal(new long[] { 4, 6, 4 }, b.GtBoxes.shape);
            var boxes = b.GtBoxes.ToFloatArray();
            var classes = b.GtClasses.ToInt64Array();
            var scores = b.GtScores.ToFloatArray();
            for (int k = 0; k < 4; k++)
            {
                var s = _train.Samples[k];
                Assert.Equal(new ImageInfo(s.ImageId, s.ImagePath, 64, 64, 64, 64), b.Infos[k]);
                for (int j = 0; j < 6; j++)
                {
                    int o = (k * 6 + j) * 4;
                    if (j < s.Boxes.Count)
                    {
                        var gt = s.Boxes[j];
                        Assert.Equal((gt.X1 + gt.X2) / 2 / 64, boxes[o], 5);
                        Assert.Equal((gt.Y1 + gt.Y2) / 2 / 64, boxes[o + 1], 5);
                        Assert.Equal(gt.Width / 64, boxes[o + 2], 5);
                        Assert.Equal(gt.Height / 64, boxes[o + 3], 5);
                        Assert.Equal(gt.ClassIndex, classes[k * 6 + j]);
                        Assert.Equal(1f, scores[k * 6 + j]);
                    }
                    else
                    {
                        Assert.Equal(new float[4], boxes[o..(o + 4)]);
                        Assert.Equal(0, classes[k * 6 + j]);
                        Assert.Equal(0f, scores[k * 6 + j]);
                    }
                }
            }
            // Normalized with ImageNet statistics: pixel p of channel 0 becomes (p/255 - 0.485)/0.229.
            var img = Image.Load(_train.Samples[0].ImagePath);
            Assert.Equal((img[10, 20, 0] / 255f - 0.485f) / 0.229f, b.Images.ToFloatArray()[10 * 64 + 20], 4);
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }

    [Fact]
    public void TensorsBelongToTheConsumersScopeAndNothingLeaks()
    {
        var loader = new DetectionLoader(_train, TrainOptions(workers: 2));
        long before = Tensor.LiveCount;
        using (var scope = torch.NewDisposeScope())
        {
            foreach (var batch in loader.GetEpoch(0)) Assert.False(batch.Images.IsDisposed);
            Assert.Equal(before + 8, Tensor.LiveCount);
        }
        Assert.Equal(before, Tensor.LiveCount);
        foreach (var batch in loader.GetEpoch(0))
        {
            batch.Dispose();
            break; // leaving early stops the workers
        }
        Assert.Equal(before, Tensor.LiveCount);
    }

    [Fact]
    public void CorruptImageIsReportedByName()
    {
        var victim = _train.Samples[3].ImagePath;
        File.WriteAllText(victim, "garbage");
        var loader = new DetectionLoader(_train, TrainOptions(workers: 2) with { Train = false });
        var e = Assert.Throws<ImageException>(() =>
        {
            foreach (var b in loader.GetEpoch(0)) b.Dispose();
        });
        Assert.Contains(victim, e.Message);
        var skipped = _train.Validate(decodeImages: true, skipCorrupt: true);
        Assert.Equal(_train.Samples.Count - 1, skipped.Samples.Count);
    }

    [Fact]
    public void BadOptionsAreNamed()
    {
        Assert.Contains("BatchSize", Assert.Throws<ArgumentException>(() => new DetectionLoader(_train, new DetectionLoaderOptions { BatchSize = 0 })).Message);
        Assert.Contains("fewer than one training batch", Assert.Throws<ArgumentException>(() => new DetectionLoader(_train, new DetectionLoaderOptions { BatchSize = 64 })).Message);
        Assert.Contains("InputSizes", Assert.Throws<ArgumentException>(() => new DetectionLoader(_train, new DetectionLoaderOptions { InputSizes = Array.Empty<int>() })).Message);
    }
}
