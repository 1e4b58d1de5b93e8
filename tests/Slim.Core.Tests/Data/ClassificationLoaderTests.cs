using Slim.Data;
using Slim.Torch;

namespace Slim.Core.Tests.Data;

public class ClassificationLoaderTests
{
    private static FashionMnistData Data(int n)
    {
        var rng = new Random(3);
        var images = new byte[n * 28 * 28];
        rng.NextBytes(images);
        return new FashionMnistData(images, Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray(), 28, 28);
    }

    [Fact]
    public void BatchesHoldTheImagesAndLabelsTheyName()
    {
        using var scope = torch.NewDisposeScope();
        var data = Data(10);
        var loader = new ClassificationLoader(data, new ClassificationLoaderOptions { BatchSize = 4, Seed = 1 });
        Assert.Equal(2, loader.BatchesPerEpoch);
        var batches = loader.GetEpoch(0).ToList();
        Assert.Equal(2, batches.Count);
        var b = batches[1];
        Assert.Equal(new long[] { 4, 1, 28, 28 }, b.Images.shape);
        Assert.Equal(ScalarType.Int64, b.Labels.dtype);
        Assert.Equal(b.Indices.Select(i => (long)data.Labels[i]), b.Labels.ToInt64Array());
        var px = b.Images.ToFloatArray();
        Assert.Equal(data.Images[b.Indices[2] * 784 + 5 * 28 + 7] / 255f, px[2 * 784 + 5 * 28 + 7], 6);
        Assert.Equal(8, batches.SelectMany(x => x.Indices).Distinct().Count());
    }

    [Fact]
    public void ResizedThreeChannelNormalizedAndDeterministic()
    {
        using var scope = torch.NewDisposeScope();
        var data = Data(12);
        var o = new ClassificationLoaderOptions
        {
            BatchSize = 6, Seed = 9, ImageSize = 32, Channels = 3, RandomFlip = true,
            Mean = new[] { 0.5f, 0.5f, 0.5f }, Std = new[] { 0.25f, 0.25f, 0.25f }, Workers = 2,
        };
        var a = new ClassificationLoader(data, o).GetEpoch(3).ToList();
        var b = new ClassificationLoader(data, o with { Workers = 0 }).GetEpoch(3).ToList();
        Assert.Equal(new long[] { 6, 3, 32, 32 }, a[0].Images.shape);
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i].Images.ToFloatArray(), b[i].Images.ToFloatArray());
        var v = a[0].Images.ToFloatArray();
        Assert.Equal(v[0], v[1024]); // gray replicated to three channels
        Assert.InRange(v.Min(), -2.0001f, -1.5f);
        Assert.InRange(v.Max(), 1.5f, 2.0001f);
        var evalLoader = new ClassificationLoader(data, o with { Train = false, BatchSize = 5 });
        Assert.Equal(3, evalLoader.BatchesPerEpoch);
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, evalLoader.GetEpoch(0).First().Indices);
    }

    [SkippableFact]
    public void InstalledFashionMnistLoads()
    {
        Requires.FashionMnistData();
        using var scope = torch.NewDisposeScope();
        var data = FashionMnist.Load(split: FashionMnistSplit.Test);
        var loader = new ClassificationLoader(data, new ClassificationLoaderOptions
        {
            BatchSize = 256, Mean = ClassificationLoaderOptions.FashionMnistMean, Std = ClassificationLoaderOptions.FashionMnistStd,
        });
        var batch = loader.GetEpoch(0).First();
        var mean = batch.Images.mean().item<float>();
        Assert.InRange(mean, -0.15f, 0.15f); // normalized by the dataset's own statistics
    }
}
