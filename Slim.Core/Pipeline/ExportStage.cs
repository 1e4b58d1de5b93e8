using System.Globalization;
using Google.Protobuf;
using Slim.Compression.Quantization;
using Slim.Export;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Torch;

namespace Slim.Pipeline;

/// <summary>
/// The export stage: the final model as model_fp32.onnx (batch norms folded) and, after a quant stage, the
/// float twin with the quant stage's scales as model_int8.onnx (INT8 QDQ, which ONNX Runtime fuses into
/// QLinearConv). Inputs, outputs, normalization metadata and any in-graph post-processing are the task
/// family's (<see cref="TaskFamily.ExportOptions"/>): a detector takes "images" and returns its raw head
/// outputs (or, with export.postprocess, decoded detections); a classifier returns "logits".
/// </summary>
public static class ExportStage
{
    /// <summary>File name of the FP32 model in the stage folder.</summary>
    public const string Fp32FileName = "model_fp32.onnx";

    /// <summary>File name of the INT8 model in the stage folder.</summary>
    public const string Int8FileName = "model_int8.onnx";

    /// <summary>
    /// Exports the stage's models into <see cref="StageContext.StageDir"/>, each written atomically.
    /// </summary>
    /// <param name="ctx">The run; class names, input size and model name come from its task and recipe.</param>
    /// <param name="fp32Checkpoint">The final float model (loadable with <see cref="ModelCheckpoint.Load(string)"/>).</param>
    /// <param name="int8TwinCheckpoint">The quant stage's float twin (BN folded into the quantized convs), or null without a quant stage.</param>
    /// <param name="quant">The quant stage's records (quant.json: layers and quantization points), required with the twin.</param>
    /// <param name="section">The recipe's export section.</param>
    public static ExportOutcome Run(StageContext ctx, string fp32Checkpoint, string? int8TwinCheckpoint, QuantizationResult? quant, ExportSection section)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(section);
        bool int8 = section.Int8 && int8TwinCheckpoint is not null;
        if (!section.Fp32 && !int8)
            throw new SlimException(section.Int8
                ? "export: fp32 is false and there is no INT8 model to write (int8 needs a quant stage before export); set export.fp32: true or add a quant stage"
                : "export: both fp32 and int8 are false: nothing to export");
        if (int8 && quant is null)
            throw new SlimException($"export: the INT8 twin {int8TwinCheckpoint} was given without its quantization parameters (quant.json)");
        if (int8)
        {
            RequireSameModel(fp32Checkpoint, int8TwinCheckpoint!);
            RequireQuantFits(int8TwinCheckpoint!, quant!);
        }

        // Everything the file records comes from the run's task, so both models record the same.
        var info = Info(ctx);
        string form = ctx.Task.Family.ExportForm(section);
        string? fp32Path = null, int8Path = null;
        long fp32Bytes = 0, int8Bytes = 0;
        if (section.Fp32)
        {
            fp32Path = Path.Combine(ctx.StageDir, Fp32FileName);
            fp32Bytes = ExportCheckpoint(fp32Checkpoint, fp32Path, info, null, section, ctx.Task.Family);
            ctx.Progress.Info($"export: {fp32Path} ({Mib(fp32Bytes)} MiB, FP32, BN folded, input {info.InputSize}×{info.InputSize}, {form})");
        }
        else ctx.Progress.Info("export: FP32 model skipped (export.fp32: false)");
        ctx.Cancel.ThrowIfCancellationRequested();

        if (int8)
        {
            int8Path = Path.Combine(ctx.StageDir, Int8FileName);
            int8Bytes = ExportCheckpoint(int8TwinCheckpoint!, int8Path, info, quant, section, ctx.Task.Family);
            ctx.Progress.Info($"export: {int8Path} ({Mib(int8Bytes)} MiB, INT8 QDQ, {quant!.Layers.Count} quantized layers, {quant.Activations.Count} quantized activations)");
        }
        else if (section.Int8)
            ctx.Progress.Info(ctx.Recipe.Stages.Any(s => s.Quant is not null)
                ? "export: INT8 model skipped: no quantized model was given (slim export takes the quant stage's folder with --quant-dir DIR, or --twin FILE with --quant-file FILE)"
                : "export: INT8 model skipped: the recipe has no quant stage (add one, or set export.int8: false to say so)");
        var deployment = int8Path is null ? null : Deployment(int8Path, ctx.StageDir, ctx.Progress.Info, "export");
        return new ExportOutcome(fp32Path, fp32Bytes, int8Path, int8Bytes, int8 ? quant!.Layers.Count : 0) { Int8Deployment = deployment };
    }

    /// <summary>What every file a run exports records (class names, input size, model name, normalization): the run's task's.</summary>
    public static ExportModelInfo Info(StageContext ctx) =>
        new(ctx.Task.ClassNames, ctx.Task.InputSize, ctx.Recipe.Name, ctx.Task.Mean, ctx.Task.Std);

    /// <summary>
    /// The FP32 and INT8 files of one export are one model: the float checkpoint and the quant stage's twin must
    /// record the same architecture, classes and (pruned) channel counts. Checked before either file is written.
    /// </summary>
    public static void RequireSameModel(string fp32Checkpoint, string twinCheckpoint)
    {
        static Dictionary<string, string> Model(string path) => Checkpoint.ReadMetadata(path)
            .Where(kv => kv.Key.StartsWith(Slim.Models.ModelOptions.MetadataPrefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var a = Model(fp32Checkpoint);
        var b = Model(twinCheckpoint);
        var differ = a.Keys.Union(b.Keys).Order(StringComparer.Ordinal).Where(k => a.GetValueOrDefault(k) != b.GetValueOrDefault(k)).ToList();
        if (differ.Count == 0) return;
        var shown = string.Join(", ", differ.Take(3).Select(k => $"{k} {a.GetValueOrDefault(k) ?? "(none)"} vs {b.GetValueOrDefault(k) ?? "(none)"}"));
        throw new SlimException($"export: {fp32Checkpoint} and the quantized twin {twinCheckpoint} are different models ({shown}{(differ.Count > 3 ? $", {differ.Count - 3} more" : "")}); " +
                                "export the checkpoint the quant stage started from, with that stage's folder");
    }

    /// <summary>
    /// Every layer quant.json records must be in the twin with the weight shape it records: a quantization file of
    /// another model (or another pruning) is refused before either ONNX file is written.
    /// </summary>
    public static void RequireQuantFits(string twinCheckpoint, QuantizationResult quant)
    {
        var (tensors, _) = Checkpoint.Load(twinCheckpoint);
        try
        {
            foreach (var l in quant.Layers)
            {
                // The record names the weight by its full parameter path.
                var key = l.WeightParameter.StartsWith(l.ModulePath + ".", StringComparison.Ordinal) ? l.WeightParameter : $"{l.ModulePath}.{l.WeightParameter}";
                var t = tensors.GetValueOrDefault(key) ?? tensors.GetValueOrDefault("model." + key);
                if (t is null)
                    throw new SlimException($"export: the quantization file names layer {l.ModulePath}, which the twin {twinCheckpoint} does not have; " +
                                            "give the quant.json and twin of one quant stage");
                if (!t.shape.SequenceEqual(l.WeightShape))
                    throw new SlimException($"export: the quantization file records {key} as [{string.Join("×", l.WeightShape)}] but the twin {twinCheckpoint} holds " +
                                            $"[{string.Join("×", t.shape)}]; give the quant.json and twin of one quant stage");
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Exports one checkpoint to <paramref name="path"/> (atomically) and returns the file size. With
    /// <paramref name="quant"/> the listed layers and quantization points are written in INT8 QDQ form (the
    /// checkpoint must then be the quant stage's float twin, whose weights the scales refer to).
    /// </summary>
    /// <param name="checkpoint">A checkpoint with model metadata (any family).</param>
    /// <param name="path">The .onnx file to write.</param>
    /// <param name="info">Class names, input size, normalization and model name; null takes them from the checkpoint's metadata.</param>
    /// <param name="quant">The quantization records (layers and points), or null for an FP32 export.</param>
    /// <param name="section">The export settings (post-processing); null: the defaults.</param>
    /// <param name="family">The family the model must belong to (null: whichever its metadata names).</param>
    public static long ExportCheckpoint(string checkpoint, string path, ExportModelInfo? info = null, QuantizationResult? quant = null,
        ExportSection? section = null, TaskFamily? family = null)
    {
        if (!File.Exists(checkpoint)) throw new FileNotFoundException($"export: checkpoint not found: {checkpoint}", checkpoint);
        using var loaded = family is null ? ModelCheckpoint.Load(checkpoint) : ModelCheckpoint.Load(checkpoint, family);
        info ??= ExportModelInfo.FromMetadata(Checkpoint.ReadMetadata(checkpoint), Path.GetFileNameWithoutExtension(checkpoint));
        section ??= new ExportSection();
        var exportOptions = loaded.Family.ExportOptions(loaded.Architecture, loaded.Options, info, section);
        if (quant is not null)
            exportOptions = exportOptions with { Quantization = ByModulePath(quant.Layers), ActivationQuantization = PointsByPath(quant.Activations) };
        var proto = OnnxExporter.Export(loaded.Model, exportOptions, x => loaded.Family.ExportForward(loaded.Model, x, section));
        AtomicFile.Write(path, s => proto.WriteTo(s));
        return new FileInfo(path).Length;
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

    /// <summary>
    /// The deployability report of an INT8 file (<see cref="Int8Deployability"/>), said in one line and, for each
    /// quantized layer ONNX Runtime runs in float, one warning line with the reason.
    /// </summary>
    public static Int8DeploymentReport Deployment(string int8Path, string scratchDir, Action<string> say, string verb)
    {
        var d = Int8Deployability.Analyze(int8Path, scratchDir);
        say($"{verb}: {Path.GetFileName(int8Path)} in ONNX Runtime: {d.Summary()}");
        foreach (var l in d.FloatFallbacks)
            say($"{verb}: warning: quantized layer {l.ModulePath} runs in float in ONNX Runtime ({l.RunsAs}): {l.Reason}");
        return d.ToReport();
    }

    /// <summary>The quantization points keyed by module path, as the exporter takes them.</summary>
    public static IReadOnlyDictionary<string, QuantizedActivation> PointsByPath(IReadOnlyList<QuantizedActivation> points)
    {
        var result = new Dictionary<string, QuantizedActivation>(StringComparer.Ordinal);
        foreach (var p in points)
            if (!result.TryAdd(p.Path, p))
                throw new SlimException($"export: quantization point '{p.Path}' is listed twice in the quantization parameters");
        return result;
    }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F2", CultureInfo.InvariantCulture);
}
