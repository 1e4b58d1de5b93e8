using Slim.Data;
using Slim.Detection;
using Slim.Export;
using Slim.Torch;

namespace Slim.Tasks.Detection;

/// <summary>
/// How to feed an exported detector and read its detections, whichever way it was exported: with the
/// raw head outputs (decoded here by <see cref="YoloBoxDecoder"/>) or with the post-processing in the
/// graph (export.postprocess: the model takes scale_factor and returns the detections itself).
/// </summary>
public sealed class OnnxDetector
{
    private OnnxDetector(string path, string inputName, bool postprocess)
    {
        Path = path;
        InputName = inputName;
        HasPostprocess = postprocess;
    }

    /// <summary>The .onnx file.</summary>
    public string Path { get; }

    /// <summary>Name of the image input.</summary>
    public string InputName { get; }

    /// <summary>True when the graph decodes and suppresses boxes itself.</summary>
    public bool HasPostprocess { get; }

    /// <summary>Reads the model's inputs to tell which form it has.</summary>
    public static OnnxDetector Open(string path, string inputName = DetectionFamily.InputName)
    {
        var proto = OnnxExporter.Load(path);
        var inputs = proto.Graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        if (!inputs.Contains(inputName))
            throw new SlimException($"{path}: the model has no input '{inputName}' (inputs: {string.Join(", ", inputs)}); export it with slim export");
        bool post = inputs.Contains(YoloPostprocessGraph.ScaleFactorName);
        if (post)
        {
            var outputs = proto.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            var missing = YoloPostprocessGraph.OutputNames.Where(n => !outputs.Contains(n)).ToArray();
            if (missing.Length > 0)
                throw new SlimException($"{path}: the model takes {YoloPostprocessGraph.ScaleFactorName} but lacks the output(s) {string.Join(", ", missing)}; export it again with slim export");
        }
        return new OnnxDetector(path, inputName, post);
    }

    /// <summary>
    /// The inputs of one run: the images and, for a post-processing model, each image's scale factor
    /// (input size / original size, height then width; 1 when <paramref name="infos"/> is null).
    /// </summary>
    public IReadOnlyDictionary<string, OrtTensor> Inputs(Tensor images, IReadOnlyList<ImageInfo>? infos)
    {
        var feeds = new Dictionary<string, OrtTensor> { [InputName] = OrtTensor.FromTensor(images) };
        if (HasPostprocess)
        {
            long n = images.shape[0];
            if (infos is not null && infos.Count != n) throw new ArgumentException($"OnnxDetector.Inputs: {infos.Count} image infos for a batch of {n}");
            var sf = new float[n * 2];
            for (int i = 0; i < n; i++)
            {
                sf[2 * i] = infos is null ? 1f : (float)infos[i].InputHeight / infos[i].OriginalHeight;
                sf[2 * i + 1] = infos is null ? 1f : (float)infos[i].InputWidth / infos[i].OriginalWidth;
            }
            feeds[YoloPostprocessGraph.ScaleFactorName] = new OrtTensor(sf, n, 2);
        }
        return feeds;
    }

    /// <summary>The detections of each image of one run, in original-image pixels.</summary>
    /// <param name="outputs">What ONNX Runtime returned for <see cref="Inputs"/>.</param>
    /// <param name="infos">The images of the batch.</param>
    /// <param name="decoder">Decodes raw YOLOv3 head outputs (unused, and may be null, with in-graph post-processing).</param>
    public IReadOnlyList<IReadOnlyList<DetectedBox>> Detections(IReadOnlyDictionary<string, OrtTensor> outputs, IReadOnlyList<ImageInfo> infos, YoloBoxDecoder? decoder)
    {
        if (!HasPostprocess)
        {
            if (decoder is null) throw new SlimException($"{Path}: the model returns raw outputs; a decoder of its family is needed");
            using var scope = torch.NewDisposeScope();
            // Outputs come back by name; the head's order is stride 32, 16, 8 (output_0..2).
            var heads = outputs.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value.ToTensor()).ToArray();
            return decoder.Decode(heads, infos);
        }
        OrtTensor Get(string name) => outputs.TryGetValue(name, out var t) ? t
            : throw new SlimException($"{Path}: ONNX Runtime returned no output '{name}'");
        var count = (long[])Get(YoloPostprocessGraph.NumDetectionsName).Data;
        var boxes = Get(YoloPostprocessGraph.BoxesName).ToFloatArray();
        var scoresT = Get(YoloPostprocessGraph.ScoresName);
        var scores = scoresT.ToFloatArray();
        var classes = (long[])Get(YoloPostprocessGraph.ClassesName).Data;
        if (count.Length != infos.Count) throw new SlimException($"{Path}: {count.Length} detection counts for a batch of {infos.Count}");
        long slots = scoresT.Shape[1];
        var result = new List<IReadOnlyList<DetectedBox>>(infos.Count);
        for (int i = 0; i < infos.Count; i++)
        {
            var list = new List<DetectedBox>((int)count[i]);
            for (long j = 0; j < count[i]; j++)
            {
                long s = i * slots + j;
                list.Add(new DetectedBox(infos[i].ImageId, (int)classes[s], scores[s], boxes[4 * s], boxes[4 * s + 1], boxes[4 * s + 2], boxes[4 * s + 3]));
            }
            result.Add(list);
        }
        return result;
    }
}
