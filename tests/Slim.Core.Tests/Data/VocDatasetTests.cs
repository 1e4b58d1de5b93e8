using Slim.Data;

namespace Slim.Core.Tests.Data;

public class VocDatasetTests
{
    private static string Xml(int w, int h, params (string Name, int Difficult, float X1, float Y1, float X2, float Y2)[] objects) =>
        $"<annotation><filename>x.jpg</filename><size><width>{w}</width><height>{h}</height><depth>3</depth></size>" +
        string.Concat(objects.Select(o =>
            $"<object><name>{o.Name}</name><difficult>{o.Difficult}</difficult><bndbox><xmin>{o.X1}</xmin><ymin>{o.Y1}</ymin><xmax>{o.X2}</xmax><ymax>{o.Y2}</ymax></bndbox></object>")) +
        "</annotation>";

    private static void Voc(TempDir dir, string[] labels, params (string Id, string Xml)[] items)
    {
        Directory.CreateDirectory(dir.File("Annotations"));
        Directory.CreateDirectory(dir.File("JPEGImages"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "ImageSets", "Main"));
        if (labels.Length > 0) File.WriteAllLines(dir.File("label_list.txt"), labels);
        foreach (var (id, xml) in items) File.WriteAllText(Path.Combine(dir.Path, "Annotations", id + ".xml"), xml);
        File.WriteAllLines(Path.Combine(dir.Path, "ImageSets", "Main", "train.txt"), items.Select(i => i.Id));
    }

    [Fact]
    public void ReadsBoxesDifficultAndLabelList()
    {
        using var dir = new TempDir();
        Voc(dir, new[] { "cat", "dog" },
            ("0001", Xml(64, 48, ("dog", 0, 1, 2, 30, 40), ("cat", 1, 10, 10, 20, 20))),
            ("0002", Xml(64, 48, ("cat", 0, -5, 40, 70, 60), ("cat", 0, 70, 0, 80, 10))));
        var log = new List<string>();
        var ds = VocDataset.Load(dir.Path, "train", log: log.Add);
        Assert.Equal(new[] { "cat", "dog" }, ds.ClassNames);
        Assert.Equal(new long[] { 0, 1 }, ds.Samples.Select(s => s.ImageId));
        Assert.Equal(Path.Combine(dir.Path, "JPEGImages", "0001.jpg"), ds.Samples[0].ImagePath);
        Assert.Equal(new BoxAnnotation(1, 2, 30, 40, 1, Area: 29 * 38), ds.Samples[0].Boxes[0]);
        Assert.True(ds.Samples[0].Boxes[1].IsDifficult);
        Assert.Equal(new BoxAnnotation(0, 40, 64, 48, 0, Area: 75 * 20), ds.Samples[1].Boxes.Single());
        Assert.Equal((1, 1), (ds.Report.ClippedBoxes, ds.Report.DroppedBoxes));
        Assert.Equal(2, log.Count);
    }

    [Fact]
    public void StandardClassesWithoutLabelList()
    {
        using var dir = new TempDir();
        Voc(dir, Array.Empty<string>(), ("a", Xml(10, 10, ("person", 0, 1, 1, 5, 5))));
        var ds = VocDataset.Load(dir.Path);
        Assert.Equal(20, ds.ClassNames.Count);
        Assert.Equal(14, ds.Samples[0].Boxes[0].ClassIndex);
    }

    [Fact]
    public void UnknownClassNamesFileNameAndNearestClass()
    {
        using var dir = new TempDir();
        Voc(dir, new[] { "Trouser", "Sneaker", "Bag" }, ("a", Xml(10, 10, ("Sneakr", 0, 1, 1, 5, 5))));
        var e = Assert.Throws<DatasetException>(() => VocDataset.Load(dir.Path));
        Assert.Contains(Path.Combine(dir.Path, "Annotations", "a.xml"), e.Message);
        Assert.Contains("'Sneakr'", e.Message);
        Assert.Contains("did you mean 'Sneaker'", e.Message);
    }

    [Fact]
    public void MalformedXmlNamesTheFile()
    {
        using var dir = new TempDir();
        Voc(dir, new[] { "a" }, ("bad", "<annotation><size><width>3</width></size"));
        var e = Assert.Throws<DatasetException>(() => VocDataset.Load(dir.Path));
        Assert.Contains(Path.Combine(dir.Path, "Annotations", "bad.xml"), e.Message);
        Assert.Contains("not valid xml", e.Message);

        Voc(dir, new[] { "a" }, ("bad", "<annotation><size><width>3</width><height>3</height></size><object><name>a</name><bndbox><xmin>x</xmin></bndbox></object></annotation>"));
        var e2 = Assert.Throws<DatasetException>(() => VocDataset.Load(dir.Path));
        Assert.Contains("<xmin> must be a number, got 'x'", e2.Message);
    }

    [Fact]
    public void EmptySplitAndMissingSplitAreClearErrors()
    {
        using var dir = new TempDir();
        Voc(dir, new[] { "a" });
        Assert.Contains("is empty", Assert.Throws<DatasetException>(() => VocDataset.Load(dir.Path)).Message);
        var e = Assert.Throws<DatasetException>(() => VocDataset.Load(dir.Path, "val"));
        Assert.Contains("val.txt", e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void PaddleStyleListAndMissingSizeReadFromImage()
    {
        using var dir = new TempDir();
        Voc(dir, new[] { "a" });
        File.WriteAllText(Path.Combine(dir.Path, "Annotations", "z.xml"),
            "<annotation><object><name>a</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>30</xmax><ymax>30</ymax></bndbox></object></annotation>");
        new Image(24, 16).Save(Path.Combine(dir.Path, "JPEGImages", "z.png"));
        File.WriteAllText(dir.File("trainval.txt"), "JPEGImages/z.png Annotations/z.xml\n");
        var ds = VocDataset.Load(dir.Path, "trainval");
        var s = ds.Samples.Single();
        Assert.Equal((24, 16), (s.Width, s.Height));
        Assert.Equal(new BoxAnnotation(1, 1, 24, 16, 0, Area: 29 * 29), s.Boxes.Single());
    }

    [Fact]
    public void LevenshteinDistanceIsTheEditCount()
    {
        Assert.Equal(3, Slim.Common.Suggest.Distance("kitten", "sitting"));
        Assert.Equal(0, Slim.Common.Suggest.Distance("Dog", "dog"));
        Assert.Equal("motorbike", Slim.Common.Suggest.Ranked("motorbik", VocDataset.StandardClasses, 1)[0]);
    }
}
