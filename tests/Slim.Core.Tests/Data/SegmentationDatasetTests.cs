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
}
