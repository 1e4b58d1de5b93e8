using System.IO.Compression;
using Slim.Data;

namespace Slim.Core.Tests.Data;

public class FashionMnistTests
{
    private static void WriteIdx(string path, int magic, int[] dims, byte[] data, bool gzip = true, int truncateBy = 0)
    {
        using var file = File.Create(path);
        using Stream s = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        void Int(int v) { var b = BitConverter.GetBytes(v); Array.Reverse(b); s.Write(b); }
        Int(magic);
        foreach (var d in dims) Int(d);
        s.Write(data, 0, data.Length - truncateBy);
    }

    [Fact]
    public void ReadsIdxFilesGzippedOrPlain()
    {
        using var dir = new TempDir();
        var images = Enumerable.Range(0, 3 * 2 * 4).Select(i => (byte)i).ToArray();
        WriteIdx(dir.File("train-images-idx3-ubyte.gz"), 2051, new[] { 3, 2, 4 }, images);
        WriteIdx(dir.File("train-labels-idx1-ubyte"), 2049, new[] { 3 }, new byte[] { 9, 0, 4 }, gzip: false);
        var d = FashionMnist.Load(dir.Path, FashionMnistSplit.Train);
        Assert.Equal((3, 2, 4), (d.Count, d.Rows, d.Cols));
        Assert.Equal(new byte[] { 9, 0, 4 }, d.Labels);
        var img = d.GetImage(1);
        Assert.Equal((4, 2, 1), (img.Width, img.Height, img.Channels));
        Assert.Equal(8 + 4 + 1, img[1, 1]);
        Assert.False(FashionMnist.IsAvailable(dir.Path, FashionMnistSplit.Test));
    }

    [Fact]
    public void BadFilesAreNamed()
    {
        using var dir = new TempDir();
        var missing = Assert.Throws<DatasetException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("train-images-idx3-ubyte", missing.Message);

        WriteIdx(dir.File("train-images-idx3-ubyte.gz"), 2049, new[] { 1, 2, 2 }, new byte[4]);
        WriteIdx(dir.File("train-labels-idx1-ubyte.gz"), 2049, new[] { 1 }, new byte[1]);
        var magic = Assert.Throws<DatasetException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains(dir.File("train-images-idx3-ubyte.gz"), magic.Message);
        Assert.Contains("magic number 2049, expected 2051", magic.Message);

        WriteIdx(dir.File("train-images-idx3-ubyte.gz"), 2051, new[] { 1, 2, 2 }, new byte[4], truncateBy: 1);
        Assert.Contains("truncated", Assert.Throws<DatasetException>(() => FashionMnist.Load(dir.Path)).Message);

        File.WriteAllText(dir.File("train-images-idx3-ubyte.gz"), "plain text, not gzip");
        Assert.Contains(dir.File("train-images-idx3-ubyte.gz"), Assert.Throws<DatasetException>(() => FashionMnist.Load(dir.Path)).Message);
    }

    [SkippableFact]
    public void ReadsTheInstalledTestSplit()
    {
        Requires.FashionMnistData();
        var d = FashionMnist.Load(FashionMnist.DefaultDirectory, FashionMnistSplit.Test);
        Assert.Equal((10000, 28, 28), (d.Count, d.Rows, d.Cols));
        // The test split is balanced: 1,000 items per class.
        Assert.All(Enumerable.Range(0, 10), c => Assert.Equal(1000, d.Labels.Count(l => l == c)));
        Assert.Equal(10, FashionMnist.ClassNames.Count);
        Assert.InRange(d.Images.Average(b => (double)b) / 255, 0.27, 0.30); // the well-known mean ~0.286
    }
}
