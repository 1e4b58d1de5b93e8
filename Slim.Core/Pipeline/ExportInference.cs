using System.Globalization;
using System.Text.Json;
using Slim.Data;
using Slim.Data.Transforms;
using Slim.Detection;
using Slim.Export;
using Slim.Models;
using Slim.Torch;
using static Slim.Torch.torch;

using Slim.Tasks;

using Slim.Tasks.Detection;
using Slim.Tasks.Ssd;

namespace Slim.Pipeline;

/// <summary>The detections of one image and where the annotated copy was written.</summary>
/// <param name="Input">The input image.</param>
/// <param name="Output">The annotated copy.</param>
/// <param name="Boxes">Detections in the input image's pixels, best first.</param>
/// <param name="BestBelowThreshold">With no box at the score asked for, the best score the model gave (null when it found nothing at all).</param>
public sealed record InferredImage(string Input, string Output, IReadOnlyList<DetectedBox> Boxes, double? BestBelowThreshold = null);

/// <summary>
/// Inference for slim infer: runs a checkpoint (libtorch) or an exported model (ONNX Runtime) on image
/// files with the evaluation preprocessing (RGB, bicubic resize to the input size, /255, ImageNet mean and
/// std), decodes the YOLOv3 outputs (objectness × class probability, class-aware NMS), draws the boxes and
/// class names onto copies of the images, and writes those plus detections.json into the output folder.
/// </summary>
public static class ExportInference
{
    /// <summary>Image file extensions read from a folder.</summary>
    public static readonly IReadOnlyList<string> ImageExtensions = new[] { ".jpg", ".jpeg", ".png" };

    /// <summary>File name of the detections written beside the images.</summary>
    public const string DetectionsFileName = "detections.json";

    /// <summary>
    /// The images named by <paramref name="spec"/>: a comma-separated list of files, or one folder (its .jpg,
    /// .jpeg and .png files, sorted by name).
    /// </summary>
    public static IReadOnlyList<string> ListImages(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new SlimException("--images: give image files (a.jpg,b.jpg) or a folder");
        if (Directory.Exists(spec))
        {
            var files = Directory.GetFiles(spec).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .OrderBy(f => f, StringComparer.Ordinal).ToList();
            if (files.Count == 0) throw new SlimException($"--images: the folder {spec} holds no {string.Join("/", ImageExtensions)} file");
            return Readable(files);
        }
        var list = spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var f in list)
            if (!File.Exists(f)) throw new FileNotFoundException($"--images: image not found: {f}", f);
        return Readable(list);
    }

    // Every image's header read before the model loads or anything is drawn: a file that is not an image is refused first.
    private static IReadOnlyList<string> Readable(IReadOnlyList<string> files)
    {
        foreach (var f in files)
        {
            try { Image.ReadSize(f); }
            catch (ImageException e) { throw new SlimException($"--images: {e.Message.TrimEnd('.')}; give .jpg/.png images", e); }
        }
        return files;
    }

    /// <summary>Runs a checkpoint on the images with libtorch.</summary>
    public static IReadOnlyList<InferredImage> RunCheckpoint(string checkpoint, IReadOnlyList<string> images, string outDir, double scoreThreshold)
    {
        var meta = Checkpoint.ReadMetadata(checkpoint);
        if (meta.TryGetValue(ModelOptions.MetadataPrefix + "architecture", out var arch) && ModelRegistry.Contains(arch) && ModelRegistry.TaskOf(arch) == ModelTask.Ssd)
            return RunSsdCheckpoint(checkpoint, meta, images, outDir, scoreThreshold);
        using (var loaded = ModelCheckpoint.Load(checkpoint, DetectionFamily.Instance))
        {
            var (model, options) = ((YoloV3)loaded.Model, loaded.Options);
            var names = ClassNames(meta.TryGetValue(ExportModelInfo.ClassNamesKey, out var joined) ? joined.Split('\n') : null, options.NumClasses, checkpoint);
            var geometry = new YoloGeometry { NumClasses = options.NumClasses };
            var decoder = Decoder(geometry, ProbeThreshold(scoreThreshold));
            // The checkpoint's own normalization (that of the weights it started from), ImageNet's when it records none.
            var info = ExportModelInfo.FromMetadata(meta, Path.GetFileNameWithoutExtension(checkpoint));
            return Annotate(images, outDir, options.InputSize, info.Mean ?? DetectionTransforms.ImageNetMean, info.Std ?? DetectionTransforms.ImageNetStd, names, scoreThreshold,
                (inputs, infos) => inputs.Select((x, i) =>
                {
                    using var _ = no_grad();
                    using var scope = NewDisposeScope();
                    return decoder.Decode(model.call(x), new[] { infos[i] })[0];
                }).ToList());
        }
    }

    // An SSD checkpoint: its forward's deltas and logits decoded against the priors of its input size.
    private static IReadOnlyList<InferredImage> RunSsdCheckpoint(string checkpoint, IReadOnlyDictionary<string, string> meta, IReadOnlyList<string> images, string outDir,
        double scoreThreshold)
    {
        using var loaded = ModelCheckpoint.Load(checkpoint, SsdFamily.Instance);
        var options = loaded.Options;
        var names = ClassNames(meta.TryGetValue(ExportModelInfo.ClassNamesKey, out var joined) ? joined.Split('\n') : null, options.NumClasses, checkpoint);
        var decoder = SsdDecoder(SsdTask.Priors(loaded.Architecture, options), options.NumClasses, scoreThreshold);
        var info = ExportModelInfo.FromMetadata(meta, Path.GetFileNameWithoutExtension(checkpoint));
        return Annotate(images, outDir, options.InputSize, info.Mean ?? DetectionTransforms.ImageNetMean, info.Std ?? DetectionTransforms.ImageNetStd, names, scoreThreshold,
            (inputs, infos) => inputs.Select((x, i) =>
            {
                using var _ = no_grad();
                using var scope = NewDisposeScope();
                var outs = loaded.Forward(x);
                return (IReadOnlyList<DetectedBox>)decoder.Decode(infos[i].ImageId, outs[0].data<float>().ToArray(), outs[1].data<float>().ToArray(),
                    infos[i].OriginalWidth, infos[i].OriginalHeight);
            }).ToList());
    }

    private static SsdDecoder SsdDecoder(float[] priors, int numClasses, double scoreThreshold)
    {
        if (!(scoreThreshold >= 0 && scoreThreshold < 1)) throw new SlimException($"--score {scoreThreshold}: expected a detection score threshold in [0, 1)");
        return new SsdDecoder(priors, numClasses, Slim.Detection.SsdDecoder.DefaultNms with { ScoreThreshold = ProbeThreshold(scoreThreshold) });
    }

    /// <summary>Runs an exported model on the images in ONNX Runtime (one process for all images).</summary>
    public static IReadOnlyList<InferredImage> RunOnnx(string onnx, IReadOnlyList<string> images, string outDir, double scoreThreshold, int threads = 1)
    {
        var proto = OnnxExporter.Load(onnx);
        var meta = proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        T Json<T>(string key)
        {
            if (!meta.TryGetValue(key, out var text)) throw new SlimException($"{onnx}: the model has no '{key}' metadata; export it with slim export");
            try
            {
                return JsonSerializer.Deserialize<T>(text) ?? throw new JsonException("null");
            }
            catch (JsonException)
            {
                throw new SlimException($"{onnx}: metadata '{key}' = '{text}' is not a {typeof(T).Name}");
            }
        }
        meta.TryGetValue("task", out var task);
        bool ssd = task == SsdFamily.Instance.Name;
        if (task is not null && task != DetectionFamily.Instance.Name && !ssd)
            throw new SlimException($"{onnx}: holds a {task} model ({meta.GetValueOrDefault("architecture", "?")}); slim infer draws the detections of a detection model");
        var shape = Json<long[]>("input_shape");
        if (shape.Length != 4 || shape[1] != 3 || shape[2] != shape[3])
            throw new SlimException($"{onnx}: metadata input_shape [{string.Join(", ", shape)}] is not a square RGB input [-1, 3, S, S]");
        string inputName = meta.GetValueOrDefault("input_name", DetectionFamily.InputName);
        IReadOnlyList<string>? names = meta.ContainsKey("class_names") ? Json<string[]>("class_names")
            : meta.TryGetValue(ExportModelInfo.ClassNamesKey, out var joined) ? joined.Split('\n') : null;
        int numClasses = meta.TryGetValue("num_classes", out var nc) && int.TryParse(nc, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n
            : names?.Count ?? throw new SlimException($"{onnx}: the model records neither num_classes nor class_names metadata; export it with slim export");
        var mean = meta.ContainsKey("mean") ? Json<float[]>("mean") : DetectionTransforms.ImageNetMean;
        var std = meta.ContainsKey("std") ? Json<float[]>("std") : DetectionTransforms.ImageNetStd;
        var decoder = Decoder(new YoloGeometry { NumClasses = numClasses }, ProbeThreshold(scoreThreshold));
        var runner = OrtRunner.Create();
        var detector = OnnxDetector.Open(onnx, inputName);
        if (ssd && !detector.HasPostprocess)
        {
            // Raw SSD outputs: decoded against the priors the file records.
            var ssdDecoder = SsdDecoder(Json<float[]>("priors"), numClasses, scoreThreshold);
            return Annotate(images, outDir, (int)shape[2], mean, std, ClassNames(names, numClasses, onnx), scoreThreshold, (inputs, infos) =>
            {
                var results = runner.Run(onnx, inputs.Select(x => (IReadOnlyDictionary<string, OrtTensor>)new Dictionary<string, OrtTensor> { [inputName] = OrtTensor.FromTensor(x) }).ToList(), threads);
                return results.Select((r, i) => (IReadOnlyList<DetectedBox>)ssdDecoder.Decode(infos[i].ImageId, r[SsdFamily.OutputNames[0]].ToFloatArray(),
                    r[SsdFamily.OutputNames[1]].ToFloatArray(), infos[i].OriginalWidth, infos[i].OriginalHeight)).ToList();
            });
        }
        return Annotate(images, outDir, (int)shape[2], mean, std, ClassNames(names, numClasses, onnx), scoreThreshold, (inputs, infos) =>
        {
            var sets = inputs.Select((x, i) => detector.Inputs(x, new[] { infos[i] })).ToList();
            var results = runner.Run(onnx, sets, threads);
            // A model with in-graph NMS applies its own score threshold; Annotate filters on --score.
            return results.Select((r, i) => (IReadOnlyList<DetectedBox>)detector.Detections(r, new[] { infos[i] }, decoder)[0]).ToList();
        });
    }

    private static IReadOnlyList<string> ClassNames(IReadOnlyList<string>? names, int numClasses, string source)
    {
        if (names is null) return Enumerable.Range(0, numClasses).Select(i => $"class {i}").ToArray();
        if (names.Count != numClasses)
            throw new SlimException($"{source}: the model has {numClasses} classes but its metadata names {names.Count}");
        return names;
    }

    // Boxes are decoded down to this score, so that an image with nothing at --score can say what the best one was;
    // greedy NMS keeps a box only against better ones, so the boxes above --score are the same either way.
    private static double ProbeThreshold(double scoreThreshold) => Math.Min(scoreThreshold, 0.01);

    private static YoloBoxDecoder Decoder(YoloGeometry geometry, double scoreThreshold)
    {
        if (!(scoreThreshold >= 0 && scoreThreshold < 1)) throw new SlimException($"--score {scoreThreshold}: expected a detection score threshold in [0, 1)");
        return new YoloBoxDecoder(new YoloBoxDecoderOptions
        {
            Geometry = geometry,
            // Cells below the decoder's objectness cut produce nothing: keep it at or under the score asked for.
            ConfidenceThreshold = Math.Min(0.005, scoreThreshold),
            Nms = new NmsOptions { ScoreThreshold = scoreThreshold },
        });
    }

    private static IReadOnlyList<InferredImage> Annotate(IReadOnlyList<string> images, string outDir, int size, IReadOnlyList<float> mean, IReadOnlyList<float> std,
        IReadOnlyList<string> names, double scoreThreshold, Func<IReadOnlyList<Tensor>, IReadOnlyList<ImageInfo>, IReadOnlyList<IReadOnlyList<DetectedBox>>> detect)
    {
        if (images.Count == 0) throw new SlimException("--images: no image given");
        Directory.CreateDirectory(outDir);
        using var scope = NewDisposeScope();
        var loaded = images.Select(p => Image.Load(p)).ToList();
        var inputs = loaded.Select(img => img.Resize(size, size, Interpolation.Cubic).ToTensor(true, mean.ToArray(), std.ToArray()).unsqueeze(0)).ToList();
        var infos = loaded.Select((img, i) => new ImageInfo(i, images[i], img.Width, img.Height, size, size)).ToList();
        var detections = detect(inputs, infos);
        var used = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<InferredImage>();
        for (int i = 0; i < images.Count; i++)
        {
            var img = loaded[i];
            var all = detections[i].OrderByDescending(b => b.Score).ToList();
            var boxes = all.Where(b => b.Score > scoreThreshold).ToList();
            var canvas = img.ToRgb();
            // Boxes first (best on top), then the labels, placed so that none covers another.
            foreach (var b in boxes.AsEnumerable().Reverse()) canvas.DrawBox(b.X1, b.Y1, b.X2, b.Y2, Palette[b.ClassId % Palette.Length]);
            var labels = boxes.Select(b => string.Create(CultureInfo.InvariantCulture, $"{names[b.ClassId]} {b.Score:F2}")).ToList();
            var sizes = labels.Select(l => Image.TextSize(l)).ToList();
            var spots = LabelPlacement.Place(boxes.Select(b => (b.X1, b.Y1, b.X2, b.Y2)).ToList(),
                sizes.Select(s => (s.Width + 2, s.Height + s.Baseline + 2)).ToList(), canvas.Width, canvas.Height);
            for (int k = boxes.Count - 1; k >= 0; k--)
                canvas.DrawText(labels[k], spots[k].X + 1, spots[k].Y + 1 + sizes[k].Height, new Rgb(255, 255, 255), background: Palette[boxes[k].ClassId % Palette.Length]);
            var output = Path.Combine(outDir, UniqueName(images[i], used));
            canvas.Save(output);
            result.Add(new InferredImage(images[i], output, boxes, boxes.Count == 0 && all.Count > 0 ? all[0].Score : null));
        }
        var json = result.Select(r => new
        {
            image = r.Input,
            output = r.Output,
            detections = r.Boxes.Select(b => new { class_id = b.ClassId, class_name = names[b.ClassId], score = b.Score, box = new[] { b.X1, b.Y1, b.X2, b.Y2 } }),
        });
        AtomicFile.WriteAllText(Path.Combine(outDir, DetectionsFileName), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
        return result;
    }

    // Two inputs with one file name (from different folders) get distinct outputs.
    private static string UniqueName(string input, HashSet<string> used)
    {
        var stem = Path.GetFileNameWithoutExtension(input);
        var ext = Path.GetExtension(input).ToLowerInvariant();
        var name = stem + ext;
        for (int k = 1; !used.Add(name); k++) name = $"{stem}_{k}{ext}";
        return name;
    }

    private static readonly Rgb[] Palette =
    {
        new(230, 25, 75), new(60, 180, 75), new(0, 130, 200), new(245, 130, 48), new(145, 30, 180),
        new(70, 240, 240), new(240, 50, 230), new(210, 245, 60), new(0, 128, 128), new(170, 110, 40),
    };
}
