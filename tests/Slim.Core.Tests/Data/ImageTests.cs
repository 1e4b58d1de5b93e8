using Slim.Data;
using Slim.Torch;

namespace Slim.Core.Tests.Data;

public class ImageTests
{
    private static Image Pattern(int w, int h)
    {
        var img = new Image(w, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                img[y, x, 0] = (byte)(x * 17 % 256);
                img[y, x, 1] = (byte)(y * 29 % 256);
                img[y, x, 2] = (byte)((x + y) * 7 % 256);
            }
        return img;
    }

    // A 24-bit BMP written by hand (rows bottom-up, pixels stored B, G, R): an independent check
    // that decoding yields RGB and not OpenCV's BGR.
    private static byte[] Bmp(int w, int h, Func<int, int, (byte R, byte G, byte B)> pixel)
    {
        int row = (w * 3 + 3) / 4 * 4, size = 54 + row * h;
        var b = new byte[size];
        b[0] = (byte)'B'; b[1] = (byte)'M';
        BitConverter.GetBytes(size).CopyTo(b, 2);
        BitConverter.GetBytes(54).CopyTo(b, 10);
        BitConverter.GetBytes(40).CopyTo(b, 14);
        BitConverter.GetBytes(w).CopyTo(b, 18);
        BitConverter.GetBytes(h).CopyTo(b, 22);
        BitConverter.GetBytes((short)1).CopyTo(b, 26);
        BitConverter.GetBytes((short)24).CopyTo(b, 28);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, bl) = pixel(x, y);
                int o = 54 + (h - 1 - y) * row + x * 3;
                b[o] = bl; b[o + 1] = g; b[o + 2] = r;
            }
        return b;
    }

    [Fact]
    public void DecodeGivesRgbInRowMajorOrder()
    {
        var bmp = Bmp(3, 2, (x, y) => ((byte)(10 + x), (byte)(100 + y), (byte)200));
        var img = Image.Decode(bmp, "hand.bmp");
        Assert.Equal((3, 2, 3), (img.Width, img.Height, img.Channels));
        Assert.Equal(12, img[1, 2, 0]);
        Assert.Equal(101, img[1, 2, 1]);
        Assert.Equal(200, img[1, 2, 2]);
        Assert.Equal(10, img[0, 0, 0]);
    }

    [Fact]
    public void PngRoundTripIsExactAndJpegIsClose()
    {
        using var dir = new TempDir();
        var img = Pattern(37, 21);
        img.Save(dir.File("a.png"));
        Assert.Equal(img.Pixels, Image.Load(dir.File("a.png")).Pixels);

        var smooth = new Image(32, 32);
        for (int i = 0; i < smooth.Pixels.Length; i += 3) { smooth.Pixels[i] = 200; smooth.Pixels[i + 1] = 40; smooth.Pixels[i + 2] = 90; }
        smooth.Save(dir.File("a.jpg"), quality: 95);
        var back = Image.Load(dir.File("a.jpg"));
        Assert.True(back.Pixels.Zip(smooth.Pixels).All(p => Math.Abs(p.First - p.Second) <= 3), "JPEG of a flat colour must stay within 3 levels");
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));
    }

    [Fact]
    public void JpegQualityChangesSize()
    {
        var img = Pattern(64, 64);
        Assert.True(img.Encode(".jpg", 20).Length < img.Encode(".jpg", 95).Length);
    }

    [Fact]
    public void ReadSizeReadsTheHeaderAndAgreesWithDecoding()
    {
        using var dir = new TempDir();
        // PNG and JPEG through the header; BMP by hand; PPM (a format the header reader lacks) by decoding.
        var files = new List<string>();
        foreach (var ext in new[] { "png", "jpg" })
        {
            var path = dir.File($"a.{ext}");
            Pattern(37, 21).Save(path);
            files.Add(path);
        }
        File.WriteAllBytes(dir.File("c.ppm"), [.. "P6\n11 5\n255\n"u8, .. new byte[11 * 5 * 3]]);
        files.Add(dir.File("c.ppm"));
        File.WriteAllBytes(dir.File("b.bmp"), Bmp(13, 7, (x, y) => (1, 2, 3)));
        files.Add(dir.File("b.bmp"));
        // A JPEG whose EXIF says "rotate 90°": the size is the one decoding gives, whichever way the decoder turns it.
        var jpeg = File.ReadAllBytes(files[1]);
        byte[] tiff = [(byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
        byte[] exif = [.. "Exif\0\0"u8, .. tiff];
        byte[] app1 = [0xFF, 0xE1, (byte)((exif.Length + 2) >> 8), (byte)(exif.Length + 2), .. exif];
        File.WriteAllBytes(dir.File("rotated.jpg"), [.. jpeg[..2], .. app1, .. jpeg[2..]]);
        files.Add(dir.File("rotated.jpg"));

        foreach (var f in files)
        {
            var img = Image.Load(f);
            Assert.Equal((img.Width, img.Height), Image.ReadSize(f));
        }
        Assert.Equal((37, 21), Image.ReadSize(files[0]));
        Assert.Equal((13, 7), Image.ReadSize(dir.File("b.bmp")));
        Assert.Equal((11, 5), Image.ReadSize(dir.File("c.ppm")));

        File.WriteAllText(dir.File("not.png"), "plain text");
        Assert.Contains(dir.File("not.png"), Assert.Throws<ImageException>(() => Image.ReadSize(dir.File("not.png"))).Message);
        Assert.Contains("does not exist", Assert.Throws<ImageException>(() => Image.ReadSize(dir.File("missing.png"))).Message);
    }

    [Fact]
    public void MissingFileNamesIt()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-dir-slim", "nope.jpg");
        var e = Assert.Throws<ImageException>(() => Image.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void CorruptFileNamesIt()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.jpg");
        File.WriteAllBytes(path, new byte[] { 0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3, 4, 5 });
        var e = Assert.Throws<ImageException>(() => Image.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("corrupt", e.Message);
        File.WriteAllBytes(path, Array.Empty<byte>());
        Assert.Contains(path, Assert.Throws<ImageException>(() => Image.Load(path)).Message);
    }

    [Fact]
    public void NearestUpscaleDuplicatesAndAreaDownscaleAverages()
    {
        var img = Pattern(4, 3);
        var up = img.Resize(8, 6, Interpolation.Nearest);
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 8; x++)
                for (int c = 0; c < 3; c++) Assert.Equal(img[y / 2, x / 2, c], up[y, x, c]);

        var big = Pattern(8, 6);
        var down = big.Resize(4, 3, Interpolation.Area);
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                for (int c = 0; c < 3; c++)
                {
                    double mean = (big[2 * y, 2 * x, c] + big[2 * y, 2 * x + 1, c] + big[2 * y + 1, 2 * x, c] + big[2 * y + 1, 2 * x + 1, c]) / 4.0;
                    Assert.True(Math.Abs(down[y, x, c] - mean) <= 0.5 + 1e-9, $"area pixel ({x},{y},{c}) = {down[y, x, c]}, mean {mean}");
                }
        Assert.Equal((5, 7), (img.Resize(5, 7, Interpolation.Cubic).Width, img.Resize(5, 7, Interpolation.Linear).Height));
    }

    [Fact]
    public void DrawBoxColoursTheOutlineOnly()
    {
        var img = new Image(20, 20);
        img.DrawBox(5, 5, 14, 14, new Rgb(255, 0, 0), thickness: 1);
        Assert.Equal((255, 0, 0), (img[5, 9, 0], img[5, 9, 1], img[5, 9, 2]));
        Assert.Equal(255, img[14, 14, 0]);
        Assert.Equal(0, img[9, 9, 0]);
        Assert.Equal(0, img[4, 9, 0]);
    }

    [Fact]
    public void DrawTextPaintsPixelsNearTheAnchor()
    {
        var img = new Image(80, 30);
        img.DrawText("Bag 0.93", 2, 20, new Rgb(0, 255, 0), scale: 0.4, background: new Rgb(0, 0, 255));
        int green = 0, blue = 0;
        for (int i = 0; i < img.Pixels.Length; i += 3)
        {
            if (img.Pixels[i + 1] > 128) green++;
            if (img.Pixels[i + 2] == 255 && img.Pixels[i + 1] == 0) blue++;
        }
        Assert.True(green > 10, $"text drew {green} green pixels");
        Assert.True(blue > 10, $"label background drew {blue} blue pixels");
        Assert.Equal(0, img[29, 79, 1]);
    }

    [Fact]
    public void ToTensorIsChwNormalized()
    {
        using var scope = torch.NewDisposeScope();
        var img = Pattern(3, 2);
        var t = img.ToTensor(true, new[] { 0.5f, 0.25f, 0f }, new[] { 0.5f, 0.5f, 2f });
        Assert.Equal(new long[] { 3, 2, 3 }, t.shape);
        var v = t.ToFloatArray();
        // channel 1, row 1, column 2
        Assert.Equal((img[1, 2, 1] / 255f - 0.25f) / 0.5f, v[1 * 6 + 1 * 3 + 2], 5);
        Assert.Equal((img[0, 1, 2] / 255f) / 2f, v[2 * 6 + 1], 5);
    }
}
