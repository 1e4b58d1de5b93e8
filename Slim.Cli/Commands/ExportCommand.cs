using System.CommandLine;
using System.Globalization;
using Slim.Compression.Quantization;
using Slim.Pipeline;
using Slim.Recipes;

namespace Slim.Cli.Commands;

/// <summary>`slim export`: a checkpoint (and a quant stage's twin) as FP32 and INT8 ONNX models.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var recipeFile = new Argument<string?>("recipe") { Description = "The recipe YAML file (class names, input size, export section); optional.", Arity = ArgumentArity.ZeroOrOne };
        var overrides = CommonOptions.Overrides();
        var checkpoint = new Option<string>("--checkpoint") { Description = "The float model to export (a Slim checkpoint).", Required = true };
        var quantDir = new Option<string?>("--quant-dir") { Description = $"A quant stage's folder: {QuantStage.QuantFileName} and the float twin checkpoint (*twin*.ckpt, or its only .ckpt)." };
        var twin = new Option<string?>("--twin") { Description = "The quant stage's float twin checkpoint (overrides the one found in --quant-dir)." };
        var quantFile = new Option<string?>("--quant-file") { Description = $"The quantization parameters (overrides --quant-dir/{QuantStage.QuantFileName})." };
        var postprocess = new Option<bool>("--postprocess") { Description = "Put box decoding and NMS into the graph (as export.postprocess: true): inputs images and scale_factor, outputs the detections." };
        var outDir = CommonOptions.Out("runs/export");
        var cmd = new Command("export", $"""
            Export a checkpoint (detector or classifier) as {ExportStage.Fp32FileName} (batch norms folded) and, with a quant
            stage's output, {ExportStage.Int8FileName} (INT8 QDQ). Input "{DetectionFamily.InputName}" [N, C, S, S] normalized as in training.
            A classifier returns "{ClassificationFamily.OutputName}" [N, classes]. A detector returns
            {string.Join(", ", DetectionFamily.OutputNames)} (strides 32, 16, 8), or with --postprocess the detections
            ({string.Join(", ", Slim.Export.YoloPostprocessGraph.OutputNames)}; second input scale_factor [N, 2] = input size / original
            height, width). Class names, normalization and anchors are stored as metadata. Without a recipe the checkpoint's own metadata gives the input size and classes.

            Examples:
              slim export recipes/quickstart.yml --checkpoint runs/qs/stages/00_train/best.ckpt --out runs/qs-export
              slim export recipes/quickstart.yml --checkpoint best.ckpt --quant-dir runs/qs/stages/03_quant --out runs/qs-export
              slim export --checkpoint best.ckpt --out exported
              slim export --checkpoint best.ckpt --postprocess --out exported-nms
            """);
        cmd.Arguments.Add(recipeFile);
        foreach (var o in new Option[] { overrides, checkpoint, quantDir, twin, quantFile, postprocess, outDir }) cmd.Options.Add(o);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            var (twinPath, specs) = ResolveQuantization(p.GetValue(quantDir), p.GetValue(twin), p.GetValue(quantFile), p.GetValue(checkpoint));
            var outcome = Export(p.GetValue(recipeFile), p.GetValue(overrides) ?? Array.Empty<string>(), p.GetValue(checkpoint)!, twinPath, specs,
                p.GetValue(outDir)!, new ConsoleProgress(), ct, p.GetValue(postprocess));
            foreach (var (precision, path, bytes) in outcome.Models())
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{precision}: {path} ({bytes / (1024.0 * 1024.0):F2} MiB)"));
            return ExitCode.Ok;
        })));
        return cmd;
    }

    /// <summary>The plain method behind the verb: exports into outDir with or without a recipe.</summary>
    public static ExportOutcome Export(string? recipeFile, IReadOnlyList<string> overrides, string checkpoint, string? twin, QuantizationResult? specs,
        string outDir, IProgressSink progress, CancellationToken cancel, bool postprocess = false)
    {
        if (recipeFile is not null)
        {
            var r = RecipeLoader.Load<Recipe>(recipeFile, overrides);
            Runtime.Configure(r);
            ModelCheckpoint.UseAsModel(checkpoint, r);
            var task = TaskRegistry.CreateTask(r, progress.Info);
            using var folderLock = RunLock.Acquire(outDir); // one writer per folder
            var ctx = new StageContext(r, task, outDir, false, progress, cancel);
            var section = r.Export;
            if (postprocess) section.Postprocess = true;
            if (twin is not null && !section.Int8)
                throw new UsageException("--quant-dir/--twin were given but the recipe sets export.int8: false; drop them or override -o export.int8=true");
            return ExportStage.Run(ctx, checkpoint, twin, specs, section);
        }
        if (overrides.Count > 0) throw new UsageException("--override needs a recipe");
        if (twin is not null) ExportStage.RequireSameModel(checkpoint, twin);
        using var bareLock = RunLock.Acquire(outDir);
        var fp32 = Path.Combine(outDir, ExportStage.Fp32FileName);
        var plain = new ExportSection { Postprocess = postprocess };
        long fp32Bytes = ExportStage.ExportCheckpoint(checkpoint, fp32, section: plain);
        progress.Info($"export: {fp32} (FP32, BN folded; input size and classes from the checkpoint{(postprocess ? "; decoding and NMS in the graph" : "")})");
        if (twin is null) return new ExportOutcome(fp32, fp32Bytes, null, 0, 0);
        cancel.ThrowIfCancellationRequested();
        var int8 = Path.Combine(outDir, ExportStage.Int8FileName);
        long int8Bytes = ExportStage.ExportCheckpoint(twin, int8, quant: specs, section: plain);
        progress.Info($"export: {int8} (INT8 QDQ, {specs!.Layers.Count} quantized layers, {specs.Activations.Count} quantized activations)");
        return new ExportOutcome(fp32, fp32Bytes, int8, int8Bytes, specs.Layers.Count);
    }

    /// <summary>The twin checkpoint and quantization parameters named by --quant-dir, --twin and --quant-file (both null when none is given).</summary>
    /// <param name="checkpoint">The float checkpoint exported beside it: the twin must be the same model (checked before quant.json is read).</param>
    public static (string? Twin, QuantizationResult? Specs) ResolveQuantization(string? quantDir, string? twin, string? quantFile, string? checkpoint = null)
    {
        if (quantDir is null && twin is null && quantFile is null) return (null, null);
        if (quantDir is not null && !Directory.Exists(quantDir)) throw new DirectoryNotFoundException($"--quant-dir: folder not found: {quantDir}");
        quantFile ??= quantDir is not null ? Path.Combine(quantDir, QuantStage.QuantFileName)
            : throw new UsageException("--twin needs its quantization parameters: add --quant-file FILE or --quant-dir DIR");
        if (twin is null)
        {
            if (quantDir is null) throw new UsageException("--quant-file needs the float twin checkpoint: add --twin FILE or --quant-dir DIR");
            var ckpts = Directory.GetFiles(quantDir, "*.ckpt").OrderBy(f => f, StringComparer.Ordinal).ToList();
            var twins = ckpts.Where(f => Path.GetFileName(f).Contains("twin", StringComparison.OrdinalIgnoreCase)).ToList();
            if (ckpts.Count == 0)
                throw new SlimException($"--quant-dir {quantDir}: the folder holds no checkpoint; a quant stage's folder holds {QuantStage.QuantFileName} and twin.ckpt (give that folder, or --twin FILE)");
            twin = twins.Count == 1 ? twins[0] : twins.Count == 0 && ckpts.Count == 1 ? ckpts[0]
                : throw new UsageException($"--quant-dir {quantDir}: cannot tell the float twin checkpoint among {string.Join(", ", ckpts.Select(Path.GetFileName))}; name it with --twin FILE");
        }
        if (!File.Exists(twin)) throw new FileNotFoundException($"--twin: checkpoint not found: {twin}", twin);
        if (checkpoint is not null && File.Exists(checkpoint)) ExportStage.RequireSameModel(checkpoint, twin);
        return (twin, QuantFile.Read(quantFile).ToResult());
    }
}
