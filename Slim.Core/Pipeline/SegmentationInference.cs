using System.Globalization;
using System.Text.Json;
using Slim.Common;
using Slim.Data;
using Slim.Export;
using Slim.Tasks;
using Slim.Tasks.Segmentation;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Pipeline;

/// <summary>The mask of one image and where its files were written.</summary>
/// <param name="Input">The input image.</param>
/// <param name="Overlay">The image with each class's pixels tinted in its colour (background left as it is).</param>
/// <param name="Mask">The label PNG at the input image's size: 8-bit, the class id of each pixel.</param>
/// <param name="ClassShares">The share (0-1) of the image's pixels per class found, largest first.</param>
public sealed record SegmentedImage(string Input, string Overlay, string Mask, IReadOnlyList<(int ClassId, string Name, double Share)> ClassShares);

/// <summary>
/// slim infer for segmenters: runs a checkpoint (libtorch) or an exported model (ONNX Runtime) on image files with the
/// evaluation preprocessing (RGB, bilinear resize to the input size, /255, the model's mean and std), takes each pixel's
/// class, scales the class map back to the image's size (nearest neighbour), and writes a label PNG, an overlay (class
/// colours blended half over the image, background untouched) and masks.json (the classes found and their shares).
/// </summary>
public static class SegmentationInference
{
    /// <summary>File name of the per-image summary written beside the masks.</summary>
    public const string MasksFileName = "masks.json";

    /// <summary>Whether an ONNX file holds a segmenter (its task metadata says so).</summary>
    public static bool IsSegmenterOnnx(string onnx) =>
        OnnxExporter.Load(onnx).MetadataProps.Any(p => p.Key == "task" && p.Value == SegmentationFamily.Instance.Name);

    /// <summary>Runs a segmenter checkpoint on the images in libtorch.</summary>
    public static IReadOnlyList<SegmentedImage> RunCheckpoint(string checkpoint, IReadOnlyList<string> images, string outDir)
    {
        using var loaded = ModelCheckpoint.Load(checkpoint, SegmentationFamily.Instance);
        var info = ExportModelInfo.FromMetadata(Checkpoint.ReadMetadata(checkpoint), Path.GetFileNameWithoutExtension(checkpoint));
        var (mean, std) = info.Mean is { } m && info.Std is { } s ? (m, s) : SegmentationFamily.Instance.DefaultNormalization(3);
        int classes = loaded.Options.NumClasses;
        return Write(images, outDir, info.InputSize, mean, std, Names(info.ClassNames, classes), x =>
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            return loaded.Forward(x)[0].argmax(1).data<long>().ToArray();
        });
    }

    /// <summary>Runs an exported segmenter on the images in ONNX Runtime (its class_ids output, or the argmax of its logits).</summary>
    public static IReadOnlyList<SegmentedImage> RunOnnx(string onnx, IReadOnlyList<string> images, string outDir, int threads = 1)
    {
        var meta = OnnxExporter.Load(onnx).MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        string Need(string key) => meta.TryGetValue(key, out var v) ? v : throw new SlimException($"{onnx}: the model has no '{key}' metadata; export it with slim export");
        if (!int.TryParse(Need("input_size"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int size) || size < 1)
            throw new SlimException($"{onnx}: metadata input_size '{meta["input_size"]}' is not a positive whole number");
        if (!int.TryParse(Need("num_classes"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int classes) || classes < 1)
            throw new SlimException($"{onnx}: metadata num_classes '{meta["num_classes"]}' is not a positive whole number");
        float[] Floats(string key) => JsonSerializer.Deserialize<float[]>(Need(key)) ?? throw new SlimException($"{onnx}: metadata '{key}' is empty");
        IReadOnlyList<string>? names = meta.TryGetValue(ExportModelInfo.ClassNamesKey, out var joined) ? joined.Split('\n') : null;
        var runner = OrtRunner.Create();
        return Write(images, outDir, size, Floats("mean"), Floats("std"), Names(names, classes), x =>
        {
            var o = runner.Run(onnx, [new Dictionary<string, OrtTensor> { [SegmentationFamily.InputName] = OrtTensor.FromTensor(x) }], threads)[0];
            if (o.TryGetValue(SegmentationFamily.ClassIdsName, out var ids)) return (long[])ids.Data;
            if (!o.TryGetValue(SegmentationFamily.LogitsName, out var logits))
                throw new SlimException($"{onnx}: the model returned neither {SegmentationFamily.ClassIdsName} nor {SegmentationFamily.LogitsName} (outputs: {string.Join(", ", o.Keys)})");
            using var scope = NewDisposeScope();
            return logits.ToTensor().argmax(1).data<long>().ToArray();
        });
    }

    private static IReadOnlyList<string> Names(IReadOnlyList<string>? names, int classes) =>
        Enumerable.Range(0, classes).Select(c => names is not null && c < names.Count ? names[c] : $"class {c}").ToArray();

    private static IReadOnlyList<SegmentedImage> Write(IReadOnlyList<string> images, string outDir, int size, IReadOnlyList<float> mean, IReadOnlyList<float> std,
        IReadOnlyList<string> names, Func<Tensor, long[]> classify)
    {
        if (images.Count == 0) throw new SlimException("--images: no image given");
        if (names.Count > 255) throw new SlimException($"the model has {names.Count} classes; label PNGs hold at most 255");
        Directory.CreateDirectory(outDir);
        var used = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<SegmentedImage>();
        foreach (var path in images)
        {
            var img = Image.Load(path).ToRgb();
            long[] ids;
            using (var scope = NewDisposeScope())
                ids = classify(img.Resize(size, size, Interpolation.Linear).ToTensor(true, mean.ToArray(), std.ToArray()).unsqueeze(0));
            if (ids.Length != size * size) throw new SlimException($"the model gave {ids.Length} class ids for a {size}×{size} input");
            var small = new Image(size, size, 1, ids.Select(v => (byte)v).ToArray());
            var mask = small.Resize(img.Width, img.Height, Interpolation.Nearest);
            var counts = new long[names.Count];
            foreach (var v in mask.Pixels) counts[v]++;
            var overlay = img.Clone();
            for (int p = 0; p < mask.Pixels.Length; p++)
            {
                int c = mask.Pixels[p];
                if (c == 0) continue; // background stays as it is
                var colour = Colour(c);
                overlay.Pixels[3 * p] = (byte)((overlay.Pixels[3 * p] + colour.R) / 2);
                overlay.Pixels[3 * p + 1] = (byte)((overlay.Pixels[3 * p + 1] + colour.G) / 2);
                overlay.Pixels[3 * p + 2] = (byte)((overlay.Pixels[3 * p + 2] + colour.B) / 2);
            }
            var stem = UniqueStem(path, used);
            var overlayPath = Path.Combine(outDir, stem + ".png");
            var maskPath = Path.Combine(outDir, stem + "_mask.png");
            AtomicFile.Write(overlayPath, s => s.Write(overlay.Encode(".png")));
            AtomicFile.Write(maskPath, s => s.Write(mask.Encode(".png")));
            long total = mask.Pixels.Length;
            var shares = Enumerable.Range(0, names.Count).Where(c => counts[c] > 0).OrderByDescending(c => counts[c]).ThenBy(c => c)
                .Select(c => (c, names[c], (double)counts[c] / total)).ToList();
            result.Add(new SegmentedImage(path, overlayPath, maskPath, shares));
        }
        var json = result.Select(r => new
        {
            image = r.Input,
            overlay = r.Overlay,
            mask = r.Mask,
            classes = r.ClassShares.Select(s => new { class_id = s.ClassId, class_name = s.Name, share = s.Share }),
        });
        AtomicFile.WriteAllText(Path.Combine(outDir, MasksFileName), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
        return result;
    }

    // Two inputs with one file name (from different folders) get distinct outputs.
    private static string UniqueStem(string input, HashSet<string> used)
    {
        var stem = Path.GetFileNameWithoutExtension(input);
        var name = stem;
        for (int k = 1; !used.Add(name); k++) name = $"{stem}_{k}";
        return name;
    }

    /// <summary>The colour of a class: PASCAL VOC's bit-interleaved palette (class 1 dark red, 2 green, 3 olive, …).</summary>
    public static Rgb Colour(int classId)
    {
        int r = 0, g = 0, b = 0, c = classId;
        for (int shift = 7; shift >= 0 && c > 0; shift--, c >>= 3)
        {
            r |= (c & 1) << shift;
            g |= ((c >> 1) & 1) << shift;
            b |= ((c >> 2) & 1) << shift;
        }
        return new Rgb((byte)r, (byte)g, (byte)b);
    }
}
