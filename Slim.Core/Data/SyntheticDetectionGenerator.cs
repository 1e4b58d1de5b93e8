using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Xml;

namespace Slim.Data;

/// <summary>
/// Generates the offline detection sample data: Fashion-MNIST items (or, without Fashion-MNIST,
/// drawn shapes) tinted and alpha-blended by their own intensity onto textured backgrounds, several
/// per image, at random scales and places. The same images are written in a COCO layout and a VOC
/// layout, into a temporary folder that is renamed into place when complete. With
/// <see cref="SyntheticDetectionOptions.Masks"/> each image also gets a label PNG (0 background, class k as k + 1 where the
/// item is at least half opaque, later items over earlier ones) and PaddleSeg-style list files: the segmentation sample data.
/// </summary>
public static class SyntheticDetectionGenerator
{
    /// <summary>Classes of the drawn-shape fallback.</summary>
    public static readonly IReadOnlyList<string> ShapeClasses = new[] { "circle", "square", "triangle", "diamond", "cross", "ring" };

    // A pixel belongs to the object (and its box) when its alpha exceeds this; keeps faint
    // anti-aliasing fringes out of the box.
    private const float AlphaThreshold = 0.1f;

    // A pixel is the item's in the label map where the item is at least half opaque (op = 1.5·alpha ≥ 0.5).
    private const float MaskAlpha = 1f / 3;

    private sealed record PlacedObject(int ClassIndex, int X1, int Y1, int X2, int Y2, int Area);

    private sealed record RenderedImage(string FileName, byte[] Jpeg, List<PlacedObject> Objects, byte[]? LabelPng);

    /// <summary>Generates the dataset described by <paramref name="options"/>; progress lines go to <paramref name="log"/>.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    /// <exception cref="IOException">The output folder exists and <see cref="SyntheticDetectionOptions.Overwrite"/> is off.</exception>
    public static SyntheticDetectionResult Generate(SyntheticDetectionOptions options, Action<string>? log = null)
    {
        options.Validate();
        var outDir = Path.GetFullPath(options.OutputDir);
        if (Directory.Exists(outDir) && !options.Overwrite)
            throw new IOException($"output folder '{outDir}' already exists; choose another folder or delete it first");

        // Source items grouped by class: Fashion-MNIST's test split (10,000 items) is plenty.
        List<Image>[]? items = null;
        if (!options.ForceShapes && FashionMnist.IsAvailable(options.FashionMnistDir))
        {
            var fm = FashionMnist.Load(options.FashionMnistDir, FashionMnistSplit.Test);
            items = Enumerable.Range(0, FashionMnist.ClassNames.Count).Select(_ => new List<Image>()).ToArray();
            for (int i = 0; i < fm.Count; i++) items[fm.Labels[i]].Add(fm.GetImage(i));
        }
        else if (!options.ForceShapes)
        {
            log?.Invoke($"Fashion-MNIST not found in '{options.FashionMnistDir}'; using drawn shapes as classes.");
        }
        var classes = items is null ? ShapeClasses : FashionMnist.ClassNames;

        var rendered = new RenderedImage[options.ImageCount];
        Parallel.For(0, options.ImageCount, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) },
            i => rendered[i] = Render(options, i, items, classes.Count));

        int valCount = (int)Math.Round(options.ImageCount * options.ValFraction);
        int trainCount = options.ImageCount - valCount;

        var parent = Path.GetDirectoryName(outDir) ?? ".";
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(parent, $".{Path.GetFileName(outDir)}.tmp-{Guid.NewGuid():N}");
        try
        {
            WriteLayouts(tmp, options, rendered, trainCount, classes);
            if (Directory.Exists(outDir))
            {
                var old = Path.Combine(parent, $".{Path.GetFileName(outDir)}.old-{Guid.NewGuid():N}");
                Directory.Move(outDir, old);
                Directory.Move(tmp, outDir);
                Directory.Delete(old, recursive: true);
            }
            else
            {
                Directory.Move(tmp, outDir);
            }
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw;
        }
        var boxes = rendered.Sum(r => r.Objects.Count);
        log?.Invoke($"wrote {options.ImageCount} images ({trainCount} train, {valCount} val) with {boxes} objects of {classes.Count} classes to '{outDir}'");
        return new SyntheticDetectionResult(outDir, classes, items is not null, trainCount, valCount, boxes);
    }

    private static RenderedImage Render(SyntheticDetectionOptions o, int index, List<Image>[]? items, int classCount)
    {
        var rng = SeedMixer.Rng(o.Seed, index);
        int size = o.ImageSize;
        var canvas = Background(rng, size);
        var labels = o.Masks ? new byte[size * size] : null;
        var placed = new List<PlacedObject>();
        int want = rng.Next(o.MinObjects, o.MaxObjects + 1);
        for (int k = 0; k < want; k++)
        {
            int cls = rng.Next(classCount);
            int side = (int)Math.Round((o.MinScale + rng.NextDouble() * (o.MaxScale - o.MinScale)) * size);
            double aspect = Math.Exp((rng.NextDouble() - 0.5) * 0.5); // width/height within about 0.78-1.28
            int w = Math.Clamp((int)Math.Round(side * Math.Sqrt(aspect)), 4, size);
            int h = Math.Clamp((int)Math.Round(side / Math.Sqrt(aspect)), 4, size);
            float[] alpha = items is null ? ShapeAlpha(cls, w, h) : ItemAlpha(items[cls][rng.Next(items[cls].Count)], w, h);
            var tint = RandomColor(rng, saturated: true);

            // Find a place that does not bury earlier objects (IoU of the paste rectangles below 0.3).
            for (int attempt = 0; attempt < 20; attempt++)
            {
                int x = rng.Next(0, size - w + 1), y = rng.Next(0, size - h + 1);
                if (placed.Any(p => Iou(p.X1, p.Y1, p.X2, p.Y2, x, y, x + w, y + h) > 0.3)) continue;
                var obj = Paste(canvas, labels, size, alpha, w, h, x, y, tint, cls);
                if (obj is not null) placed.Add(obj);
                break;
            }
        }
        var px = new byte[canvas.Length];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)Math.Clamp((int)MathF.Round(canvas[i]), 0, 255);
        var jpeg = new Image(size, size, 3, px).Encode(".jpg", o.JpegQuality);
        var png = labels is null ? null : new Image(size, size, 1, labels).Encode(".png");
        return new RenderedImage($"{index:D6}.jpg", jpeg, placed, png);
    }

    private static (float R, float G, float B) RandomColor(Random rng, bool saturated)
    {
        // HSV with high saturation for objects, muted for backgrounds, so objects stand out.
        double hue = rng.NextDouble() * 6, s = saturated ? 0.5 + 0.5 * rng.NextDouble() : 0.1 + 0.4 * rng.NextDouble();
        double v = saturated ? 0.6 + 0.4 * rng.NextDouble() : 0.2 + 0.7 * rng.NextDouble();
        int sector = (int)hue % 6;
        double f = hue - Math.Floor(hue), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
        var (r, g, b) = sector switch { 0 => (v, t, p), 1 => (q, v, p), 2 => (p, v, t), 3 => (p, q, v), 4 => (t, p, v), _ => (v, p, q) };
        return ((float)(r * 255), (float)(g * 255), (float)(b * 255));
    }

    private static float[] Background(Random rng, int size)
    {
        var c = new float[size * size * 3];
        var a = RandomColor(rng, saturated: false);
        var b = RandomColor(rng, saturated: false);
        int kind = rng.Next(4);
        double angle = rng.NextDouble() * Math.PI, period = 6 + rng.NextDouble() * 30;
        float ca = (float)Math.Cos(angle), sa = (float)Math.Sin(angle);
        float[]? coarse = null;
        int grid = 0;
        if (kind == 0)
        {
            // Smooth value noise: a coarse random grid, bilinearly upsampled by OpenCV.
            grid = 4 + rng.Next(6);
            var g = new byte[grid * grid];
            rng.NextBytes(g);
            var up = new Image(grid, grid, 1, g).Resize(size, size, Interpolation.Cubic);
            coarse = up.Pixels.Select(v => v / 255f).ToArray();
        }
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                float t = kind switch
                {
                    0 => coarse![y * size + x],
                    1 => Math.Clamp(((x - size / 2f) * ca + (y - size / 2f) * sa) / size + 0.5f, 0, 1), // gradient
                    2 => (MathF.Sin(((x * ca + y * sa) / (float)period) * MathF.PI * 2) + 1) / 2, // stripes
                    _ => ((x / (int)(period / 1.5 + 1)) + (y / (int)(period / 1.5 + 1))) % 2 == 0 ? 0.25f : 0.75f, // checks
                };
                int i = (y * size + x) * 3;
                c[i] = a.R + (b.R - a.R) * t;
                c[i + 1] = a.G + (b.G - a.G) * t;
                c[i + 2] = a.B + (b.B - a.B) * t;
            }
        // Fine grain so that no region is perfectly flat.
        // (xorshift32 rather than Random: this is most of the generator's random draws.)
        float amp = 4 + rng.Next(12);
        uint state = (uint)rng.Next() | 1u;
        float scale = amp / (1u << 23);
        for (int i = 0; i < c.Length; i++)
        {
            state ^= state << 13; state ^= state >> 17; state ^= state << 5;
            c[i] += ((int)(state >> 8) - (1 << 23)) * scale;
        }
        return c;
    }

    private static float[] ItemAlpha(Image item, int w, int h)
    {
        var scaled = item.Resize(w, h, w >= item.Width ? Interpolation.Linear : Interpolation.Area);
        var a = new float[w * h];
        for (int i = 0; i < a.Length; i++) a[i] = scaled.Pixels[i] / 255f;
        return a;
    }

    private static float[] ShapeAlpha(int cls, int w, int h)
    {
        // Supersampled (3x3 per pixel) coverage of the shape in the unit square.
        var a = new float[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int hits = 0;
                for (int sy = 0; sy < 3; sy++)
                    for (int sx = 0; sx < 3; sx++)
                    {
                        float u = (x + (sx + 0.5f) / 3) / w, v = (y + (sy + 0.5f) / 3) / h;
                        float du = u - 0.5f, dv = v - 0.5f, r2 = du * du + dv * dv;
                        bool inside = cls switch
                        {
                            0 => r2 <= 0.25f,
                            1 => u >= 0.05f && u <= 0.95f && v >= 0.05f && v <= 0.95f,
                            2 => v >= 0.05f && Math.Abs(du) <= (v - 0.05f) * 0.5f / 0.95f,
                            3 => Math.Abs(du) + Math.Abs(dv) <= 0.5f,
                            4 => Math.Abs(du) <= 0.17f || Math.Abs(dv) <= 0.17f,
                            _ => r2 <= 0.25f && r2 >= 0.09f,
                        };
                        if (inside) hits++;
                    }
                a[y * w + x] = hits / 9f;
            }
        return a;
    }

    private static PlacedObject? Paste(float[] canvas, byte[]? labels, int size, float[] alpha, int w, int h, int x0, int y0, (float R, float G, float B) tint, int cls)
    {
        int minX = int.MaxValue, minY = int.MaxValue, maxX = -1, maxY = -1, area = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                float a = alpha[y * w + x];
                if (a <= 0) continue;
                // The item's intensity is both its opacity and its shading, so texture survives the tint.
                float op = Math.Min(1f, a * 1.5f), shade = 0.35f + 0.65f * a;
                int i = ((y0 + y) * size + x0 + x) * 3;
                canvas[i] += (tint.R * shade - canvas[i]) * op;
                canvas[i + 1] += (tint.G * shade - canvas[i + 1]) * op;
                canvas[i + 2] += (tint.B * shade - canvas[i + 2]) * op;
                if (labels is not null && a >= MaskAlpha) labels[(y0 + y) * size + x0 + x] = (byte)(cls + 1);
                if (a > AlphaThreshold)
                {
                    area++;
                    minX = Math.Min(minX, x); maxX = Math.Max(maxX, x);
                    minY = Math.Min(minY, y); maxY = Math.Max(maxY, y);
                }
            }
        if (maxX < 0 || maxX - minX < 1 || maxY - minY < 1) return null;
        return new PlacedObject(cls, x0 + minX, y0 + minY, x0 + maxX + 1, y0 + maxY + 1, area);
    }

    private static double Iou(int ax1, int ay1, int ax2, int ay2, int bx1, int by1, int bx2, int by2)
    {
        double iw = Math.Max(0, Math.Min(ax2, bx2) - Math.Max(ax1, bx1)), ih = Math.Max(0, Math.Min(ay2, by2) - Math.Max(ay1, by1));
        double inter = iw * ih, union = (ax2 - ax1) * (double)(ay2 - ay1) + (bx2 - bx1) * (double)(by2 - by1) - inter;
        return union <= 0 ? 0 : inter / union;
    }

    private static void WriteLayouts(string root, SyntheticDetectionOptions o, RenderedImage[] images, int trainCount, IReadOnlyList<string> classes)
    {
        var cocoImages = Directory.CreateDirectory(Path.Combine(root, "coco", "images")).FullName;
        var cocoAnn = Directory.CreateDirectory(Path.Combine(root, "coco", "annotations")).FullName;
        var vocJpeg = Directory.CreateDirectory(Path.Combine(root, "voc", "JPEGImages")).FullName;
        var vocAnn = Directory.CreateDirectory(Path.Combine(root, "voc", "Annotations")).FullName;
        var vocSets = Directory.CreateDirectory(Path.Combine(root, "voc", "ImageSets", "Main")).FullName;

        foreach (var img in images)
        {
            File.WriteAllBytes(Path.Combine(cocoImages, img.FileName), img.Jpeg);
            File.WriteAllBytes(Path.Combine(vocJpeg, img.FileName), img.Jpeg);
            File.WriteAllText(Path.Combine(vocAnn, Path.ChangeExtension(img.FileName, ".xml")), VocXml(img, o.ImageSize, classes));
        }
        var split = new[] { ("train", 0, trainCount), ("val", trainCount, images.Length) };
        foreach (var (name, from, to) in split)
        {
            File.WriteAllBytes(Path.Combine(cocoAnn, $"instances_{name}.json"), CocoJson(images, from, to, o.ImageSize, classes));
            File.WriteAllText(Path.Combine(vocSets, $"{name}.txt"),
                string.Concat(images[from..to].Select(i => Path.GetFileNameWithoutExtension(i.FileName) + "\n")));
        }
        File.WriteAllText(Path.Combine(root, "voc", "label_list.txt"), string.Concat(classes.Select(c => c + "\n")));
        if (o.Masks)
        {
            // PaddleSeg's plain layout: "image label" per line, paths relative to the dataset root.
            var labelDir = Directory.CreateDirectory(Path.Combine(root, "segmentation", "labels")).FullName;
            foreach (var img in images) File.WriteAllBytes(Path.Combine(labelDir, Path.ChangeExtension(img.FileName, ".png")), img.LabelPng!);
            foreach (var (name, from, to) in split)
                File.WriteAllText(Path.Combine(root, "segmentation", $"{name}.txt"), string.Concat(images[from..to].Select(i =>
                    $"coco/images/{i.FileName} segmentation/labels/{Path.ChangeExtension(i.FileName, ".png")}\n")));
            File.WriteAllText(Path.Combine(root, "segmentation", "labels.txt"), string.Concat(new[] { "background" }.Concat(classes).Select(c => c + "\n")));
        }
        File.WriteAllText(Path.Combine(root, "generator.json"), JsonSerializer.Serialize(new
        {
            generator = "Slim.Data.SyntheticDetectionGenerator",
            seed = o.Seed, image_count = o.ImageCount, image_size = o.ImageSize, min_objects = o.MinObjects, max_objects = o.MaxObjects,
            min_scale = o.MinScale, max_scale = o.MaxScale, val_fraction = o.ValFraction, jpeg_quality = o.JpegQuality,
            classes,
        }, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        // Recorded only when written, so a detection-only folder is byte for byte what it was before masks existed.
        if (o.Masks) File.WriteAllText(Path.Combine(root, "segmentation", "generator.json"), "{\n  \"masks\": true,\n  \"mask_alpha\": 0.3333\n}\n");
    }

    /// <summary>
    /// How the data already in <paramref name="root"/> (its generator.json) differs from what <paramref name="options"/> would
    /// generate, one phrase per setting ("image_count 500 there, 1000 asked"); empty when it matches or records nothing.
    /// </summary>
    public static IReadOnlyList<string> Differences(string root, SyntheticDetectionOptions options)
    {
        var path = Path.Combine(root, "generator.json");
        if (!File.Exists(path)) return [];
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var r = doc.RootElement;
        var found = new List<string>();
        void Compare(string key, double asked)
        {
            if (r.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && Math.Abs(v.GetDouble() - asked) > 1e-9)
                found.Add(string.Create(CultureInfo.InvariantCulture, $"{key} {v.GetDouble():G6} there, {asked:G6} asked"));
        }
        Compare("seed", options.Seed);
        Compare("image_count", options.ImageCount);
        Compare("image_size", options.ImageSize);
        Compare("min_objects", options.MinObjects);
        Compare("max_objects", options.MaxObjects);
        Compare("val_fraction", options.ValFraction);
        return found;
    }

    // Image ids are 1-based positions in the full image list, so train and val ids never collide.
    private static byte[] CocoJson(RenderedImage[] images, int from, int to, int size, IReadOnlyList<string> classes)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("info");
            w.WriteString("description", "Slim synthetic detection data");
            w.WriteEndObject();
            w.WriteStartArray("images");
            for (int i = from; i < to; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", i + 1);
                w.WriteString("file_name", images[i].FileName);
                w.WriteNumber("width", size);
                w.WriteNumber("height", size);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("annotations");
            int annId = 1;
            for (int i = from; i < to; i++)
                foreach (var obj in images[i].Objects)
                {
                    w.WriteStartObject();
                    w.WriteNumber("id", annId++);
                    w.WriteNumber("image_id", i + 1);
                    w.WriteNumber("category_id", obj.ClassIndex + 1);
                    w.WriteStartArray("bbox");
                    w.WriteNumberValue(obj.X1);
                    w.WriteNumberValue(obj.Y1);
                    w.WriteNumberValue(obj.X2 - obj.X1);
                    w.WriteNumberValue(obj.Y2 - obj.Y1);
                    w.WriteEndArray();
                    w.WriteNumber("area", obj.Area);
                    w.WriteNumber("iscrowd", 0);
                    w.WriteEndObject();
                }
            w.WriteEndArray();
            w.WriteStartArray("categories");
            for (int c = 0; c < classes.Count; c++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", c + 1);
                w.WriteString("name", classes[c]);
                w.WriteString("supercategory", "object");
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        ms.WriteByte((byte)'\n');
        return ms.ToArray();
    }

    private static string VocXml(RenderedImage img, int size, IReadOnlyList<string> classes)
    {
        var sb = new StringBuilder();
        var settings = new XmlWriterSettings { Indent = true, OmitXmlDeclaration = true, NewLineChars = "\n" };
        using (var w = XmlWriter.Create(sb, settings))
        {
            w.WriteStartElement("annotation");
            w.WriteElementString("folder", "JPEGImages");
            w.WriteElementString("filename", img.FileName);
            w.WriteStartElement("size");
            w.WriteElementString("width", size.ToString(CultureInfo.InvariantCulture));
            w.WriteElementString("height", size.ToString(CultureInfo.InvariantCulture));
            w.WriteElementString("depth", "3");
            w.WriteEndElement();
            w.WriteElementString("segmented", "0");
            foreach (var obj in img.Objects)
            {
                w.WriteStartElement("object");
                w.WriteElementString("name", classes[obj.ClassIndex]);
                w.WriteElementString("pose", "Unspecified");
                w.WriteElementString("truncated", "0");
                w.WriteElementString("difficult", "0");
                w.WriteStartElement("bndbox");
                w.WriteElementString("xmin", obj.X1.ToString(CultureInfo.InvariantCulture));
                w.WriteElementString("ymin", obj.Y1.ToString(CultureInfo.InvariantCulture));
                w.WriteElementString("xmax", obj.X2.ToString(CultureInfo.InvariantCulture));
                w.WriteElementString("ymax", obj.Y2.ToString(CultureInfo.InvariantCulture));
                w.WriteEndElement();
                w.WriteEndElement();
            }
            w.WriteEndElement();
        }
        return sb.Append('\n').ToString();
    }
}
