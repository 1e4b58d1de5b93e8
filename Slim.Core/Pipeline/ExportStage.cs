using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Slim.Compression.Quantization;
using Slim.Data.Transforms;
using Slim.Detection;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Pipeline;

/// <summary>
/// The export stage: the final model as model_fp32.onnx (batch norms folded) and, after a quant stage, the
/// float twin with the quant stage's scales as model_int8.onnx (INT8 QDQ, which ONNX Runtime fuses into
/// QLinearConv). Both take input "images" [batch, 3, S, S] (dynamic batch) normalized like the data loader
/// (RGB, pixel / 255, then (x - mean) / std with ImageNet's mean and std) and return the raw head outputs
/// output_0, output_1, output_2 (strides 32, 16, 8), each [batch, A·(5 + C), S/stride, S/stride]; with
/// export.postprocess the decoding and NMS are in the graph instead (see <see cref="YoloPostprocessGraph"/>).
/// </summary>
public static class ExportStage
{
    /// <summary>File name of the FP32 model in the stage folder.</summary>
    public const string Fp32FileName = "model_fp32.onnx";

    /// <summary>File name of the INT8 model in the stage folder.</summary>
    public const string Int8FileName = "model_int8.onnx";

    /// <summary>Name of the graph input.</summary>
    public const string InputName = "images";

    /// <summary>Names of the head outputs, coarsest (stride 32) first; ordinal order is head order, which <see cref="DetectionTask.EvaluateOnnx"/> relies on.</summary>
    public static readonly IReadOnlyList<string> OutputNames = new[] { "output_0", "output_1", "output_2" };

    /// <summary>Metadata key (in checkpoints and ONNX files) of the newline-separated class names.</summary>
    public const string ClassNamesKey = "dataset.class_names";

    /// <summary>
    /// Exports the stage's models into <see cref="StageContext.StageDir"/>, each written atomically.
    /// </summary>
    /// <param name="ctx">The run; class names, input size and model name come from its task and recipe.</param>
    /// <param name="fp32Checkpoint">The final float model (loadable with <see cref="TrainStage.Load"/>).</param>
    /// <param name="int8TwinCheckpoint">The quant stage's float twin (BN folded into the quantized convs), or null without a quant stage.</param>
    /// <param name="specs">The quant stage's quantized-layer records (quant.json), required with the twin.</param>
    /// <param name="section">The recipe's export section.</param>
    public static ExportOutcome Run(StageContext ctx, string fp32Checkpoint, string? int8TwinCheckpoint, IReadOnlyList<QuantizedLayer>? specs, ExportSection section)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(section);
        bool int8 = section.Int8 && int8TwinCheckpoint is not null;
        if (!section.Fp32 && !int8)
            throw new SlimException(section.Int8
                ? "export: fp32 is false and there is no INT8 model to write (int8 needs a quant stage before export); set export.fp32: true or add a quant stage"
                : "export: both fp32 and int8 are false: nothing to export");
        if (int8 && specs is null)
            throw new SlimException($"export: the INT8 twin {int8TwinCheckpoint} was given without its quantization parameters (quant.json)");

        var info = new ExportModelInfo(ctx.Task.ClassNames, ctx.Task.InputSize, ctx.Recipe.Name);
        var post = section.Postprocess ? section.Nms : null;
        string form = post is null ? "head outputs" : $"in-graph decoding + NMS (score > {post.ScoreThreshold.ToString(CultureInfo.InvariantCulture)}, keep {post.KeepTopK})";
        string? fp32Path = null, int8Path = null;
        long fp32Bytes = 0, int8Bytes = 0;
        if (section.Fp32)
        {
            fp32Path = Path.Combine(ctx.StageDir, Fp32FileName);
            fp32Bytes = ExportCheckpoint(fp32Checkpoint, fp32Path, info, null, post);
            ctx.Progress.Info($"export: {fp32Path} ({Mib(fp32Bytes)} MiB, FP32, BN folded, input {InputName} [N, 3, {info.InputSize}, {info.InputSize}], {form})");
        }
        else ctx.Progress.Info("export: FP32 model skipped (export.fp32: false)");
        ctx.Cancel.ThrowIfCancellationRequested();

        if (int8)
        {
            int8Path = Path.Combine(ctx.StageDir, Int8FileName);
            int8Bytes = ExportCheckpoint(int8TwinCheckpoint!, int8Path, info, specs, post);
            ctx.Progress.Info($"export: {int8Path} ({Mib(int8Bytes)} MiB, INT8 QDQ, {specs!.Count} quantized layers)");
        }
        else if (section.Int8)
            ctx.Progress.Info("export: INT8 model skipped (the recipe has no quant stage)");
        return new ExportOutcome(fp32Path, fp32Bytes, int8Path, int8Bytes, int8 ? specs!.Count : 0);
    }

    /// <summary>
    /// Exports one checkpoint to <paramref name="path"/> (atomically) and returns the file size. With
    /// <paramref name="specs"/> the listed layers are written in INT8 QDQ form (the checkpoint must then be
    /// the quant stage's float twin, whose weights the scales refer to).
    /// </summary>
    /// <param name="checkpoint">A detector checkpoint with model metadata.</param>
    /// <param name="path">The .onnx file to write.</param>
    /// <param name="info">Class names, input size and model name; null takes them from the checkpoint's metadata.</param>
    /// <param name="specs">The quantized-layer records, or null for an FP32 export.</param>
    /// <param name="postprocess">When set, box decoding and NMS with these settings go into the graph.</param>
    public static long ExportCheckpoint(string checkpoint, string path, ExportModelInfo? info = null, IReadOnlyList<QuantizedLayer>? specs = null, NmsSection? postprocess = null)
    {
        if (!File.Exists(checkpoint)) throw new FileNotFoundException($"export: checkpoint not found: {checkpoint}", checkpoint);
        var meta = Checkpoint.ReadMetadata(checkpoint);
        var (model, architecture, options) = TrainStage.Load(checkpoint);
        using (model)
        {
            info ??= ExportModelInfo.FromMetadata(meta, Path.GetFileNameWithoutExtension(checkpoint));
            var exportOptions = Options(architecture, options, info, specs, postprocess);
            var proto = OnnxExporter.Export(model, exportOptions, x => model.call(x));
            AtomicFile.Write(path, s => proto.WriteTo(s));
        }
        return new FileInfo(path).Length;
    }

    /// <summary>The exporter options of a detector: input, outputs, normalization and decoding metadata, INT8 layers.</summary>
    public static OnnxExportOptions Options(string architecture, ModelOptions model, ExportModelInfo info, IReadOnlyList<QuantizedLayer>? specs = null, NmsSection? postprocess = null)
    {
        if (info.InputSize < 32 || info.InputSize % 32 != 0)
            throw new SlimException($"export: input size {info.InputSize} is not a positive multiple of 32 (model.input_size)");
        if (info.ClassNames is { } names && names.Count != model.NumClasses)
            throw new SlimException($"export: the checkpoint's model has {model.NumClasses} classes but {names.Count} class names were given ({string.Join(", ", names.Take(5))}…)");
        var geometry = new YoloGeometry { NumClasses = model.NumClasses };
        static string Json<T>(T v) => JsonSerializer.Serialize(v);
        var extra = new Dictionary<string, string>
        {
            ["architecture"] = architecture,
            ["num_classes"] = model.NumClasses.ToString(CultureInfo.InvariantCulture),
            ["input_size"] = info.InputSize.ToString(CultureInfo.InvariantCulture),
            ["anchors"] = Json(geometry.Anchors),
            ["anchor_masks"] = Json(geometry.AnchorMasks),
            ["strides"] = Json(geometry.DownsampleRatios),
            ["preprocess"] = "RGB; resize to input_size x input_size (bicubic, no letterbox); x = (pixel / 255 - mean) / std",
            ["output_layout"] = postprocess is null
                ? "output_i: [N, A*(5+C), H, W] per stride in 'strides'; per anchor x, y, w, h, objectness, C class logits (YOLOv3)"
                : "num_detections [N, 1]; detection_boxes [N, T, 4] x1, y1, x2, y2 in original-image pixels; detection_scores [N, T] best first; " +
                  "detection_classes [N, T] (-1 past num_detections); input scale_factor [N, 2] = input_size / original (height, width)",
        };
        if (info.ClassNames is not null) extra[ClassNamesKey] = string.Join("\n", info.ClassNames);
        return new OnnxExportOptions
        {
            InputShape = new long[] { model.InChannels, info.InputSize, info.InputSize },
            InputName = InputName,
            OutputNames = OutputNames,
            ModelName = info.ModelName,
            Mean = DetectionTransforms.ImageNetMean.ToArray(),
            Std = DetectionTransforms.ImageNetStd.ToArray(),
            ClassNames = info.ClassNames,
            ExtraMetadata = extra,
            FoldBatchNorm = true,
            Quantization = specs is null ? null : ByModulePath(specs),
            Postprocess = postprocess?.ToDecoderOptions(geometry),
        };
    }

    /// <summary>The quant stage's records keyed by module path, as the exporter takes them (the records themselves, not a copy).</summary>
    public static IReadOnlyDictionary<string, QuantizedLayer> ByModulePath(IReadOnlyList<QuantizedLayer> specs)
    {
        if (specs.Count == 0)
            throw new SlimException("export: the quantization parameters list no layer; an INT8 export needs at least one quantized conv/linear layer");
        var result = new Dictionary<string, QuantizedLayer>(StringComparer.Ordinal);
        foreach (var s in specs)
        {
            if (string.IsNullOrEmpty(s.ModulePath))
                throw new SlimException("export: a quantized layer has an empty module_path in the quantization parameters");
            if (!result.TryAdd(s.ModulePath, s))
                throw new SlimException($"export: layer '{s.ModulePath}' is listed twice in the quantization parameters");
        }
        return result;
    }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F2", CultureInfo.InvariantCulture);
}
