using Slim.Data;
using Slim.Data.Transforms;

namespace Slim.Core.Tests.Data;

public class TransformTests
{
    private static readonly Rgb Object = new(200, 100, 50), Background = new(10, 20, 30);

    // A flat background with solid rectangles; each box is exactly its rectangle.
    private static TransformSample Scene(int w, int h, params (int X1, int Y1, int X2, int Y2)[] rects)
    {
        var img = new Image(w, h);
        for (int i = 0; i < img.Pixels.Length; i += 3) (img.Pixels[i], img.Pixels[i + 1], img.Pixels[i + 2]) = (Background.R, Background.G, Background.B);
        foreach (var r in rects)
            for (int y = r.Y1; y < r.Y2; y++)
                for (int x = r.X1; x < r.X2; x++) (img[y, x, 0], img[y, x, 1], img[y, x, 2]) = (Object.R, Object.G, Object.B);
        return new TransformSample(img, rects.Select((r, i) => new BoxAnnotation(r.X1, r.Y1, r.X2, r.Y2, i)));
    }

    private static bool IsObject(Image img, int y, int x) => img[y, x, 0] == Object.R && img[y, x, 1] == Object.G && img[y, x, 2] == Object.B;

    // Every pixel inside each box is object, and the boxes account for every object pixel.
    private static void AssertBoxesCoverObjects(TransformSample s)
    {
        int covered = 0;
        foreach (var b in s.Boxes)
        {
            Assert.Equal(b.X1, MathF.Round(b.X1));
            for (int y = (int)b.Y1; y < (int)b.Y2; y++)
                for (int x = (int)b.X1; x < (int)b.X2; x++)
                {
                    Assert.True(IsObject(s.Image, y, x), $"pixel ({x},{y}) inside box {b} is not the object");
                    covered++;
                }
        }
        int objectPixels = 0;
        for (int y = 0; y < s.Image.Height; y++)
            for (int x = 0; x < s.Image.Width; x++)
                if (IsObject(s.Image, y, x)) objectPixels++;
        Assert.Equal(objectPixels, covered);
    }

    [Fact]
    public void FlipMirrorsBoxes()
    {
        var s = Scene(40, 30, (3, 4, 10, 20), (25, 1, 39, 5));
        RandomFlip.Flip(s);
        Assert.Equal(new BoxAnnotation(30, 4, 37, 20, 0), s.Boxes[0]);
        AssertBoxesCoverObjects(s);
        var never = Scene(40, 30, (3, 4, 10, 20));
        new RandomFlip { Probability = 0 }.Apply(never, new Random(1));
        Assert.Equal(3, never.Boxes[0].X1);
    }

    [Fact]
    public void ExpandShiftsBoxesOntoAMeanFilledCanvas()
    {
        int expanded = 0;
        for (int seed = 0; seed < 20; seed++)
        {
            var s = Scene(30, 20, (3, 4, 10, 15), (20, 2, 28, 9));
            new RandomExpand().Apply(s, new Random(seed));
            AssertBoxesCoverObjects(s);
            if (s.Image.Width == 30) continue;
            expanded++;
            Assert.InRange(s.Image.Width, 31, 120);
            Assert.Equal(7, s.Boxes[0].X2 - s.Boxes[0].X1);
            // The original 30x20 image is pasted whole; everything else is the ImageNet-mean fill.
            int fill = 0;
            for (int i = 0; i < s.Image.Pixels.Length; i += 3)
                if ((s.Image.Pixels[i], s.Image.Pixels[i + 1], s.Image.Pixels[i + 2]) == (124, 116, 104)) fill++;
            Assert.Equal(s.Image.Width * s.Image.Height - 30 * 20, fill);
        }
        Assert.InRange(expanded, 4, 16); // skipped with probability 0.5
    }

    [Fact]
    public void CropKeepsBoxesOnTheirPixels()
    {
        int cropped = 0;
        for (int seed = 0; seed < 30; seed++)
        {
            var s = Scene(60, 50, (5, 5, 25, 30), (35, 20, 55, 45), (40, 2, 45, 8));
            new RandomCrop().Apply(s, new Random(seed));
            if (s.Image.Width != 60 || s.Image.Height != 50) cropped++;
            Assert.NotEmpty(s.Boxes);
            foreach (var b in s.Boxes) Assert.True(b.X2 <= s.Image.Width && b.Y2 <= s.Image.Height && b.X1 >= 0 && b.Y1 >= 0);
            // Objects whose centre left the crop are dropped with their box, but their pixels may remain:
            // check only the kept boxes, which must lie wholly on object pixels.
            foreach (var b in s.Boxes)
                for (int y = (int)b.Y1; y < (int)b.Y2; y++)
                    for (int x = (int)b.X1; x < (int)b.X2; x++) Assert.True(IsObject(s.Image, y, x));
        }
        Assert.True(cropped >= 10, $"only {cropped} of 30 samples were cropped");
    }

    [Fact]
    public void CropOfASingleFullyContainedObjectCoversExactlyIt()
    {
        for (int seed = 0; seed < 30; seed++)
        {
            var s = Scene(64, 64, (20, 20, 44, 44));
            new RandomCrop().Apply(s, new Random(seed));
            // The kept box is the object clipped to the crop; no other object pixels exist.
            AssertBoxesCoverObjects(s);
        }
    }

    [Fact]
    public void CropLeavesImagesWithoutBoxesAlone()
    {
        var s = new TransformSample(new Image(20, 20), Array.Empty<BoxAnnotation>());
        new RandomCrop().Apply(s, new Random(0));
        Assert.Equal(20, s.Image.Width);
    }

    [Fact]
    public void NearestResizeScalesBoxesWithTheirPixels()
    {
        var s = Scene(20, 10, (2, 3, 7, 9));
        ResizeImage.Resize(s, 40, 30, Interpolation.Nearest);
        Assert.Equal(new BoxAnnotation(4, 9, 14, 27, 0), s.Boxes[0]);
        AssertBoxesCoverObjects(s);
    }

    [Fact]
    public void DistortStepsMatchTheirFormulas()
    {
        var s = Scene(4, 4, (0, 0, 2, 2));
        var identity = new RandomDistort { SkipProbability = 0, Brightness = (0, 0), Contrast = (1, 1), Saturation = (1, 1), Hue = (0, 0) };
        var before = (byte[])s.Image.Pixels.Clone();
        identity.Apply(s, new Random(0));
        Assert.True(before.Zip(s.Image.Pixels).All(p => Math.Abs(p.First - p.Second) <= 1), "hue 0 / factors 1 must be (nearly) the identity");

        var bright = Scene(4, 4, (0, 0, 2, 2));
        new RandomDistort { SkipProbability = 0, Brightness = (70, 70), Contrast = (1, 1), Saturation = (1, 1), Hue = (0, 0) }.Apply(bright, new Random(0));
        Assert.InRange(bright.Image[0, 0, 0], 254, 255); // 200 + 70, clamped
        Assert.InRange(bright.Image[3, 3, 1], 89, 91); // 20 + 70

        var gray = Scene(4, 4, (0, 0, 2, 2));
        new RandomDistort { SkipProbability = 0, Brightness = (0, 0), Contrast = (1, 1), Saturation = (0, 0), Hue = (0, 0) }.Apply(gray, new Random(0));
        double y = 0.299 * 200 + 0.587 * 100 + 0.114 * 50;
        for (int c = 0; c < 3; c++) Assert.InRange(gray.Image[0, 0, c], y - 1.5, y + 1.5);
        Assert.Equal(new BoxAnnotation(0, 0, 2, 2, 0), gray.Boxes[0]);

        var skipped = Scene(4, 4, (0, 0, 2, 2));
        new RandomDistort { SkipProbability = 1 }.Apply(skipped, new Random(0));
        Assert.Equal(Scene(4, 4, (0, 0, 2, 2)).Image.Pixels, skipped.Image.Pixels);
    }

    [Fact]
    public void MultiScaleSizesFollowPaddleDetection()
    {
        Assert.Equal(new[] { 320, 352, 384, 416, 448, 480, 512, 544, 576, 608 }, DetectionTransforms.MultiScaleSizes(608));
        Assert.Equal(new[] { 96, 128, 160 }, DetectionTransforms.MultiScaleSizes(160));
    }
}
