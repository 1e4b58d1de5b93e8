using System.Diagnostics;
using Slim.Data;

namespace Slim.Core.Tests.Data;

public class SyntheticDetectionGeneratorTests
{
    private static SyntheticDetectionOptions Options(string dir, int seed = 3, int count = 12, bool shapes = false) => new()
    {
        OutputDir = dir, Seed = seed, ImageCount = count, ImageSize = 96, MinObjects = 2, MaxObjects = 4, ValFraction = 0.25, ForceShapes = shapes,
    };

    private static string[] Files(string root) =>
        Directory.GetFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void SameOptionsGiveByteIdenticalOutput()
    {
        using var dir = new TempDir();
        var a = SyntheticDetectionGenerator.Generate(Options(dir.File("a")));
        var b = SyntheticDetectionGenerator.Generate(Options(dir.File("b")));
        var files = Files(a.OutputDir);
        Assert.Equal(files, Files(b.OutputDir));
        Assert.Contains(Path.Combine("coco", "annotations", "instances_train.json"), files);
        Assert.Contains(Path.Combine("voc", "ImageSets", "Main", "val.txt"), files);
        foreach (var f in files)
            Assert.True(File.ReadAllBytes(Path.Combine(a.OutputDir, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b.OutputDir, f))), $"{f} differs");

        var c = SyntheticDetectionGenerator.Generate(Options(dir.File("c"), seed: 4));
        Assert.NotEqual(File.ReadAllBytes(a.CocoAnnotations("train")), File.ReadAllBytes(c.CocoAnnotations("train")));
        Assert.Empty(Directory.GetDirectories(dir.Path, ".*tmp*"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MasksLabelEachItemsPixelsWithinItsBoxAndLeaveTheDetectionDataAsItWas(bool shapes)
    {
        using var dir = new TempDir();
        var plain = SyntheticDetectionGenerator.Generate(Options(dir.File("plain"), shapes: shapes));
        var masked = SyntheticDetectionGenerator.Generate(Options(dir.File("masked"), shapes: shapes) with { Masks = true });
        // Every file a detection-only run writes is byte for byte the same with masks.
        foreach (var f in Files(plain.OutputDir))
            Assert.True(File.ReadAllBytes(Path.Combine(plain.OutputDir, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(masked.OutputDir, f))), $"{f} differs");
        var seg = Path.Combine(masked.OutputDir, "segmentation");
        Assert.Equal(new[] { "background" }.Concat(masked.ClassNames), File.ReadAllLines(Path.Combine(seg, "labels.txt")));
        var lines = File.ReadAllLines(Path.Combine(seg, "train.txt")).Concat(File.ReadAllLines(Path.Combine(seg, "val.txt"))).ToList();
        Assert.Equal(12, lines.Count);
        var coco = CocoDataset.Load(masked.CocoAnnotations("train"), masked.CocoImages).Samples
            .Concat(CocoDataset.Load(masked.CocoAnnotations("val"), masked.CocoImages).Samples).ToDictionary(x => Path.GetFileName(x.ImagePath));
        long itemPixels = 0;
        foreach (var line in lines)
        {
            var parts = line.Split(' ');
            Assert.True(File.Exists(Path.Combine(masked.OutputDir, parts[0])), parts[0]);
            var labels = LabelMap.Load(Path.Combine(masked.OutputDir, parts[1]));
            Assert.Equal((96, 96), (labels.Width, labels.Height));
            var boxes = coco[Path.GetFileName(parts[0])].Boxes;
            for (int i = 0; i < labels.Labels.Length; i++)
            {
                int label = labels.Labels[i];
                if (label == 0) continue;
                itemPixels++;
                int x = i % 96, y = i / 96;
                // A labelled pixel lies in a box of its class (masks are stricter than boxes: opacity 1/2 against 0.1).
                Assert.Contains(boxes, b => b.ClassIndex == label - 1 && x >= b.X1 && x < b.X2 && y >= b.Y1 && y < b.Y2);
            }
        }
        Assert.InRange(itemPixels, 12 * 96 * 96 / 50, 12 * 96 * 96 / 2); // items cover some of each image, not all
        // A mask scores perfectly against itself.
        var (matrix, images, _) = Slim.Segmentation.MaskEvaluator.EvaluateFolders(Path.Combine(seg, "labels"), Path.Combine(seg, "labels"), masked.ClassNames.Count + 1);
        Assert.Equal((1.0, 12), (matrix.Scores().MeanIou, images));
    }

    [Fact]
    public void CocoAndVocLayoutsDescribeTheSameObjects()
    {
        using var dir = new TempDir();
        var r = SyntheticDetectionGenerator.Generate(Options(dir.File("d")));
        Assert.Equal((9, 3), (r.TrainImages, r.ValImages));
        foreach (var split in new[] { "train", "val" })
        {
            var coco = CocoDataset.Load(r.CocoAnnotations(split), r.CocoImages).Validate(decodeImages: true);
            var voc = VocDataset.Load(r.VocDir, split).Validate(decodeImages: true);
            Assert.Equal(r.ClassNames, coco.ClassNames);
            Assert.Equal(r.ClassNames, voc.ClassNames);
            Assert.Equal(coco.Samples.Count, voc.Samples.Count);
            for (int i = 0; i < coco.Samples.Count; i++)
            {
                Assert.Equal(Path.GetFileName(coco.Samples[i].ImagePath), Path.GetFileName(voc.Samples[i].ImagePath));
                Assert.Equal(coco.Samples[i].Boxes.Select(b => (b.X1, b.Y1, b.X2, b.Y2, b.ClassIndex)),
                    voc.Samples[i].Boxes.Select(b => (b.X1, b.Y1, b.X2, b.Y2, b.ClassIndex)));
                Assert.InRange(coco.Samples[i].Boxes.Count, 1, 4);
            }
            Assert.Equal(0, coco.Report.ClippedBoxes + coco.Report.DroppedBoxes);
        }
        Assert.Equal(r.Boxes, CocoDataset.Load(r.CocoAnnotations("train"), r.CocoImages).BoxCount + CocoDataset.Load(r.CocoAnnotations("val"), r.CocoImages).BoxCount);
    }

    [Fact]
    public void OpaqueShapesFillTheCentreOfTheirBoxesWithTheirTint()
    {
        // Squares and circles are fully opaque at their centre, painted in a saturated tint (HSV
        // saturation >= 0.5, value >= 0.6) while backgrounds are muted: a misplaced box would put
        // textured, muted background at its centre.
        using var dir = new TempDir();
        var r = SyntheticDetectionGenerator.Generate(Options(dir.File("s"), shapes: true, count: 24) with { MinObjects = 1, MaxObjects = 1, ValFraction = 0 });
        Assert.False(r.UsedFashionMnist);
        Assert.Equal(SyntheticDetectionGenerator.ShapeClasses, r.ClassNames);
        var ds = CocoDataset.Load(r.CocoAnnotations("train"), r.CocoImages);
        int checkedBoxes = 0;
        foreach (var s in ds.Samples)
        {
            var b = s.Boxes.Single();
            if (r.ClassNames[b.ClassIndex] is not ("square" or "circle")) continue;
            var img = Image.Load(s.ImagePath);
            int cx = (int)((b.X1 + b.X2) / 2), cy = (int)((b.Y1 + b.Y2) / 2), half = (int)(b.Width * 0.15f);
            var px = new List<(int R, int G, int B)>();
            for (int y = cy - half; y <= cy + half; y++)
                for (int x = cx - half; x <= cx + half; x++) px.Add((img[y, x, 0], img[y, x, 1], img[y, x, 2]));
            double mr = px.Average(p => p.R), mg = px.Average(p => p.G), mb = px.Average(p => p.B);
            double spread = px.Max(p => Math.Abs(p.R - mr) + Math.Abs(p.G - mg) + Math.Abs(p.B - mb));
            double max = Math.Max(mr, Math.Max(mg, mb)), min = Math.Min(mr, Math.Min(mg, mb));
            Assert.True(spread < 40, $"{s.ImagePath}: centre of the {r.ClassNames[b.ClassIndex]} box is not uniform (spread {spread:0})");
            Assert.True(max >= 140 && (max - min) / max >= 0.42, $"{s.ImagePath}: centre colour ({mr:0},{mg:0},{mb:0}) is not the saturated tint");
            checkedBoxes++;
        }
        Assert.True(checkedBoxes >= 3, $"only {checkedBoxes} squares/circles among 24 images");
    }

    [Fact]
    public void FallsBackToShapesWhenFashionMnistIsAbsent()
    {
        using var dir = new TempDir();
        var log = new List<string>();
        var r = SyntheticDetectionGenerator.Generate(Options(dir.File("f"), count: 4) with { FashionMnistDir = dir.File("nowhere") }, log.Add);
        Assert.False(r.UsedFashionMnist);
        Assert.Contains(log, l => l.Contains("Fashion-MNIST not found"));
        Assert.Equal(SyntheticDetectionGenerator.ShapeClasses, File.ReadAllLines(Path.Combine(r.VocDir, "label_list.txt")));
    }

    [SkippableFact]
    public void UsesFashionMnistClassesWhenInstalled()
    {
        Requires.FashionMnistData();
        using var dir = new TempDir();
        var r = SyntheticDetectionGenerator.Generate(Options(dir.File("fm"), count: 4));
        Assert.True(r.UsedFashionMnist);
        Assert.Equal(FashionMnist.ClassNames, r.ClassNames);
    }

    [Fact]
    public void ExistingOutputNeedsOverwriteAndBadOptionsAreNamed()
    {
        using var dir = new TempDir();
        var o = Options(dir.File("o"), count: 2);
        SyntheticDetectionGenerator.Generate(o);
        Assert.Contains("already exists", Assert.Throws<IOException>(() => SyntheticDetectionGenerator.Generate(o)).Message);
        var again = SyntheticDetectionGenerator.Generate(o with { Overwrite = true, ImageCount = 3 });
        Assert.Equal(3, Directory.GetFiles(Path.Combine(again.CocoDir, "images")).Length);
        Assert.Contains("min_objects ≤ max_objects, got 3 and 2", Assert.Throws<ArgumentException>(() => SyntheticDetectionGenerator.Generate(o with { MinObjects = 3, MaxObjects = 2 })).Message);
        Assert.Contains("(train_images + val_images, --images) must be at least 1", Assert.Throws<ArgumentException>(() => SyntheticDetectionGenerator.Generate(o with { ImageCount = 0 })).Message);
    }

    [Fact]
    public void TwoHundredImagesOf160PixelsTakeAFewSecondsOfCpu()
    {
        // CPU time, not wall time: the test machines are shared and wall time says little.
        new Image(8, 8).Encode(); // load the native library outside the measurement
        using var dir = new TempDir();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var r = SyntheticDetectionGenerator.Generate(new SyntheticDetectionOptions { OutputDir = dir.File("big"), ImageCount = 200, ImageSize = 160 });
        var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        Console.WriteLine($"generated 200 images of 160 px ({r.Boxes} objects): {used.TotalSeconds:0.00} s CPU, {sw.Elapsed.TotalSeconds:0.00} s wall");
        Assert.Equal(200, r.TrainImages + r.ValImages);
        Assert.True(used.TotalSeconds < 5, $"took {used.TotalSeconds:0.0} s of CPU");
    }
}
