using Slim.Data;

namespace Slim.Core.Tests.Data;

public class CocoDatasetTests
{
    private const string Valid = """
    {
      "images": [
        {"id": 7, "file_name": "a.jpg", "width": 100, "height": 50},
        {"id": 3, "file_name": "b.jpg", "width": 40, "height": 40}
      ],
      "annotations": [
        {"id": 1, "image_id": 7, "category_id": 18, "bbox": [10, 5, 20, 30], "area": 321.5, "iscrowd": 0},
        {"id": 2, "image_id": 7, "category_id": 1, "bbox": [90, 40, 30, 30], "iscrowd": 1},
        {"id": 3, "image_id": 7, "category_id": 1, "bbox": [120, 10, 5, 5]},
        {"id": 4, "image_id": 3, "category_id": 18, "bbox": [0, 0, 40, 40]}
      ],
      "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}]
    }
    """;

    private static string Write(TempDir dir, string json)
    {
        var path = dir.File("instances.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void ReadsBoxesCategoriesAndFlags()
    {
        using var dir = new TempDir();
        var log = new List<string>();
        var ds = CocoDataset.Load(Write(dir, Valid), dir.Path, log.Add);
        Assert.Equal(new[] { "person", "dog" }, ds.ClassNames);
        Assert.Equal(new[] { 1, 18 }, ds.CategoryIds);
        Assert.Equal(new long[] { 7, 3 }, ds.Samples.Select(s => s.ImageId));
        var a = ds.Samples[0];
        Assert.Equal(Path.Combine(dir.Path, "a.jpg"), a.ImagePath);
        Assert.Equal((100, 50), (a.Width, a.Height));
        Assert.Equal(new BoxAnnotation(10, 5, 30, 35, 1, Area: 321.5f), a.Boxes[0]);
        // Clipped to the image; crowd flag kept; area defaults to the annotated box area.
        Assert.Equal(new BoxAnnotation(90, 40, 100, 50, 0, IsCrowd: true, Area: 900), a.Boxes[1]);
        Assert.Equal(2, a.Boxes.Count); // the third lies wholly outside: dropped
        Assert.Equal(1, ds.Report.ClippedBoxes);
        Assert.Equal(1, ds.Report.DroppedBoxes);
        Assert.Equal(2, log.Count);
        Assert.Contains("dropped degenerate box", log[1]);
        Assert.Equal(3, ds.BoxCount);
    }

    [Fact]
    public void MalformedJsonNamesTheFile()
    {
        using var dir = new TempDir();
        var path = Write(dir, "{\"images\": [ {\"id\": 1,, ]");
        var e = Assert.Throws<DatasetException>(() => CocoDataset.Load(path, dir.Path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not valid JSON at line", e.Message);
    }

    [Fact]
    public void EmptyFileAndNoImagesAreClearErrors()
    {
        using var dir = new TempDir();
        var empty = Write(dir, "");
        Assert.Contains(empty, Assert.Throws<DatasetException>(() => CocoDataset.Load(empty, dir.Path)).Message);
        var noImages = Write(dir, """{"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]}""");
        var e = Assert.Throws<DatasetException>(() => CocoDataset.Load(noImages, dir.Path));
        Assert.Contains("no images", e.Message);
        Assert.Contains(noImages, e.Message);
        var missing = dir.File("missing.json");
        Assert.Contains(missing, Assert.Throws<DatasetException>(() => CocoDataset.Load(missing, dir.Path)).Message);
    }

    [Fact]
    public void UnknownReferencesAndMissingFieldsAreNamed()
    {
        using var dir = new TempDir();
        var badCat = Write(dir, Valid.Replace("\"category_id\": 18, \"bbox\": [0, 0", "\"category_id\": 99, \"bbox\": [0, 0"));
        var e = Assert.Throws<DatasetException>(() => CocoDataset.Load(badCat, dir.Path));
        Assert.Contains("annotations[3] refers to category id 99", e.Message);
        var badBox = Write(dir, Valid.Replace("[10, 5, 20, 30]", "[10, 5, 20]"));
        Assert.Contains("annotations[0].bbox", Assert.Throws<DatasetException>(() => CocoDataset.Load(badBox, dir.Path)).Message);
        var noName = Write(dir, Valid.Replace("\"name\": \"dog\"", "\"nome\": \"dog\""));
        Assert.Contains("categories[0] has no 'name'", Assert.Throws<DatasetException>(() => CocoDataset.Load(noName, dir.Path)).Message);
    }

    [Fact]
    public void ValidateFindsMissingAndCorruptImages()
    {
        using var dir = new TempDir();
        var ds = CocoDataset.Load(Write(dir, Valid), dir.Path);
        var missing = Assert.Throws<ImageException>(() => ds.Validate(decodeImages: true));
        Assert.Contains(Path.Combine(dir.Path, "a.jpg"), missing.Message);

        new Image(100, 50).Save(dir.File("a.jpg"));
        File.WriteAllText(dir.File("b.jpg"), "not a jpeg");
        var corrupt = Assert.Throws<ImageException>(() => ds.Validate(decodeImages: true));
        Assert.Contains(Path.Combine(dir.Path, "b.jpg"), corrupt.Message);

        var kept = ds.Validate(decodeImages: true, skipCorrupt: true);
        Assert.Single(kept.Samples);
        Assert.Equal(1, kept.Report.SkippedImages);
        Assert.Contains(kept.Report.Warnings, w => w.Contains("b.jpg"));
    }

    [Fact]
    public void AnImageOfAnotherSizeThanAnnotatedIsRefusedWithoutDecoding()
    {
        using var dir = new TempDir();
        var ds = CocoDataset.Load(Write(dir, Valid), dir.Path);
        new Image(100, 50).Save(dir.File("a.jpg"));
        new Image(40, 41).Save(dir.File("b.jpg"));
        var e = Assert.Throws<DatasetException>(() => ds.Validate());
        Assert.Contains("image id 3", e.Message);
        Assert.Contains(dir.File("b.jpg"), e.Message);
        Assert.Contains("annotated as 40×40 but the file is 40×41", e.Message);
        // skip_corrupt does not hide it: the file is an image, of the wrong size.
        Assert.Throws<DatasetException>(() => ds.Validate(skipCorrupt: true));
        // Training data: the loader rescales the boxes to the file, said once with the count.
        var log = new List<string>();
        Assert.Same(ds, ds.Validate(log: log.Add, sizesMustMatch: false));
        Assert.Contains("1 image(s) differ in size from their annotation (first: image id 3", Assert.Single(log));
        // A 100×50 annotation of a 50×100 file: the likely cause named.
        new Image(50, 100).Save(dir.File("a.jpg"));
        new Image(40, 40).Save(dir.File("b.jpg"));
        Assert.Contains("is annotated as 100×50 but the file is 50×100 (width and height swapped", Assert.Throws<DatasetException>(() => ds.Validate()).Message);
        new Image(100, 50).Save(dir.File("a.jpg"));
        Assert.Same(ds, ds.Validate());
    }
}
