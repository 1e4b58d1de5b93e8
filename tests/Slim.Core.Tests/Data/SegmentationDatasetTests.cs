using Slim.Data;

namespace Slim.Core.Tests.Data;

public class SegmentationDatasetTests
{
    private static void Png(string path, int w, int h, int channels = 1)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new Image(w, h, channels).Encode(".png"));
    }

    [Fact]
    public void CityscapesPairsEachImageWithItsTrainIdLabelsAcrossCities()
    {
        using var dir = new TempDir();
        foreach (var (city, name) in new[] { ("aachen", "aachen_000000_000019"), ("bremen", "bremen_000001_000019") })
        {
            Png(Path.Combine(dir.Path, "leftImg8bit", "val", city, name + "_leftImg8bit.png"), 8, 4, 3);
            Png(Path.Combine(dir.Path, "gtFine", "val", city, name + "_gtFine_labelTrainIds.png"), 8, 4);
        }
        var d = SegmentationDataset.LoadCityscapes(dir.Path, "val").Validate();
        Assert.Equal(19, d.ClassNames.Count);
        Assert.Equal(new[] { "aachen_000000_000019_gtFine_labelTrainIds.png", "bremen_000001_000019_gtFine_labelTrainIds.png" },
            d.Samples.Select(s => Path.GetFileName(s.LabelPath)));

        // A label map of another size is found before any work; so is an image without labels.
        Png(Path.Combine(dir.Path, "gtFine", "val", "bremen", "bremen_000001_000019_gtFine_labelTrainIds.png"), 8, 5);
        Assert.Contains("is 8×5 but its image", Assert.Throws<DatasetException>(() => SegmentationDataset.LoadCityscapes(dir.Path, "val").Validate()).Message);
        Png(Path.Combine(dir.Path, "leftImg8bit", "val", "bremen", "bremen_000002_000019_leftImg8bit.png"), 8, 4, 3);
        Assert.Contains("createTrainIdLabelImgs", Assert.Throws<DatasetException>(() => SegmentationDataset.LoadCityscapes(dir.Path, "val")).Message);
        Assert.Contains("leftImg8bit/train: not found", Assert.Throws<DatasetException>(() => SegmentationDataset.LoadCityscapes(dir.Path, "train")).Message.Replace('\\', '/'));
    }

    [Fact]
    public void APlainListReadsTheGeneratedSampleDataAndNamesABadLine()
    {
        using var dir = new TempDir();
        var r = SyntheticDetectionGenerator.Generate(new SyntheticDetectionOptions
        {
            OutputDir = dir.File("gen"), ImageCount = 6, ImageSize = 64, Seed = 1, Masks = true, ValFraction = 0.5,
        });
        var d = SegmentationDataset.LoadList(r.OutputDir, "segmentation/train.txt", "segmentation/labels.txt").Validate();
        Assert.Equal(3, d.Samples.Count);
        Assert.Equal("background", d.ClassNames[0]);
        Assert.Equal(r.ClassNames.Count + 1, d.ClassNames.Count);

        File.WriteAllText(Path.Combine(r.OutputDir, "bad.txt"), "coco/images/000000.jpg segmentation/labels/000000.png\n\ncoco/images/000001.jpg\n");
        Assert.EndsWith("bad.txt:3: expected \"image label\" (two paths), got 1 field(s)",
            Assert.Throws<DatasetException>(() => SegmentationDataset.LoadList(r.OutputDir, "bad.txt")).Message);
        File.WriteAllText(Path.Combine(r.OutputDir, "missing.txt"), "coco/images/000000.jpg segmentation/labels/nope.png\n");
        Assert.Contains("missing.txt:1: label map", Assert.Throws<DatasetException>(() => SegmentationDataset.LoadList(r.OutputDir, "missing.txt")).Message);
    }

    [Fact]
    public void TheLoaderResizesLabelsByNearestNeighbourAndMirrorsThemWithTheirImages()
    {
        using var dir = new TempDir();
        var r = SyntheticDetectionGenerator.Generate(new SyntheticDetectionOptions
        {
            OutputDir = dir.File("gen"), ImageCount = 8, ImageSize = 64, Seed = 2, Masks = true, ValFraction = 0,
        });
        var data = SegmentationDataset.LoadList(r.OutputDir, "segmentation/train.txt");
        var options = new SegmentationLoaderOptions { BatchSize = 4, ImageSize = 32, Seed = 7, Workers = 0, Mean = [0.5f, 0.5f, 0.5f], Std = [0.25f, 0.25f, 0.25f] };
        using var scope = Slim.Torch.torch.NewDisposeScope();
        var plain = new SegmentationLoader(data, options with { Train = false }).GetEpoch(0).ToList();
        Assert.Equal(2, plain.Count);
        Assert.Equal(new long[] { 4, 3, 32, 32 }, plain[0].Images.shape);
        Assert.Equal(new long[] { 4, 32, 32 }, plain[0].Labels.shape);
        var allowed = Enumerable.Range(0, r.ClassNames.Count + 1).Select(i => (long)i).ToHashSet();
        Assert.All(plain.SelectMany(b => b.Labels.data<long>().ToArray()), v => Assert.Contains(v, allowed));
        // Each plain label map is the label PNG resized by nearest neighbour.
        var first = LabelMap.Load(data.Samples[0].LabelPath);
        var expected = new Image(first.Width, first.Height, 1, first.Labels).Resize(32, 32, Interpolation.Nearest).Pixels.Select(v => (long)v);
        Assert.Equal(expected, plain[0].Labels.data<long>().Take(32 * 32));

        // Training batches: shuffled, and each sample either as it is or mirrored, image and labels together.
        var train = new SegmentationLoader(data, options).GetEpoch(0).ToList();
        var byIndex = plain.SelectMany(b => b.Indices.Select((idx, k) => (idx, b, k))).ToDictionary(t => t.idx, t => (t.b, t.k));
        int mirrored = 0;
        foreach (var b in train)
            for (int k = 0; k < b.Count; k++)
            {
                var (pb, pk) = byIndex[b.Indices[k]];
                var label = b.Labels.select(0, k);
                var plainLabel = pb.Labels.select(0, pk);
                bool same = label.equal(plainLabel);
                bool flipped = label.equal(plainLabel.flip(1)) && b.Images.select(0, k).equal(pb.Images.select(0, pk).flip(2));
                Assert.True(same || flipped, $"sample {b.Indices[k]} is neither itself nor its mirror");
                if (!same) mirrored++;
            }
        Assert.InRange(mirrored, 1, 7);
        // Workers do not change a batch.
        var parallel = new SegmentationLoader(data, options with { Workers = 2 }).GetEpoch(0).ToList();
        Assert.True(train.Zip(parallel).All(p => p.First.Images.equal(p.Second.Images) && p.First.Labels.equal(p.Second.Labels)));
    }
}
