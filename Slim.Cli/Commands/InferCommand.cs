using System.Globalization;
using System.CommandLine;
using Slim.Pipeline;

namespace Slim.Cli.Commands;

/// <summary>`slim infer`: detect objects in images with a checkpoint or an ONNX model and draw them.</summary>
public static class InferCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string?>("--checkpoint") { Description = "A Slim detector checkpoint (run in libtorch)." };
        var onnx = new Option<string?>("--onnx") { Description = "An ONNX model written by slim export (run in ONNX Runtime)." };
        var images = new Option<string>("--images") { Description = "Image files separated by commas (a.jpg,b.png) or a folder of .jpg/.jpeg/.png files.", Required = true };
        var outDir = CommonOptions.Out("runs/infer");
        var score = new Option<double>("--score") { Description = "Smallest detection score drawn (0-1).", DefaultValueFactory = _ => 0.3 };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime threads (with --onnx).", DefaultValueFactory = _ => 1 };
        var cmd = new Command("infer", $"""
            Run a detector on images and write copies with the boxes, class names and scores drawn, plus
            {ExportInference.DetectionsFileName}, to --out. Class names come from the model's metadata.
            A segmenter writes per image an overlay (class colours over the image), a label PNG (<name>_mask.png,
            the class id of each pixel at the image's size) and {SegmentationInference.MasksFileName}; --score does not apply.

            Examples:
              slim infer --checkpoint runs/qs/stages/00_train/best.ckpt --images street.jpg,park.jpg --out runs/infer
              slim infer --onnx runs/qs/export/model_int8.onnx --images datasets/generated/quickstart/coco/images --out runs/infer --score 0.5
            """);
        foreach (var o in new Option[] { checkpoint, onnx, images, outDir, score, threads }) cmd.Options.Add(o);
        cmd.SetAction(p => CliRunner.Run(() =>
        {
            if (IsSegmenter(p.GetValue(checkpoint), p.GetValue(onnx)))
            {
                foreach (var r in Segment(p.GetValue(checkpoint), p.GetValue(onnx), p.GetValue(images)!, p.GetValue(outDir)!, p.GetValue(threads)))
                    Console.Out.WriteLine($"{r.Input}: {Shares(r)} → {r.Overlay}, {Path.GetFileName(r.Mask)}");
                return ExitCode.Ok;
            }
            var results = Infer(p.GetValue(checkpoint), p.GetValue(onnx), p.GetValue(images)!, p.GetValue(outDir)!, p.GetValue(score), p.GetValue(threads));
            double minScore = p.GetValue(score);
            foreach (var r in results)
                Console.Out.WriteLine(r.Boxes.Count > 0 ? $"{r.Input}: {r.Boxes.Count} detection(s) → {r.Output}" : $"{r.Input}: {NoBoxHint(r, minScore)} → {r.Output}");
            if (results.All(r => r.Boxes.Count == 0) && results.Max(r => r.BestBelowThreshold) is double best)
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"no box passed --score {minScore:0.###} in any image; the best score was {best:F3}: try --score {Math.Floor(best * 100) / 100:0.##}"));
            return ExitCode.Ok;
        }));
        return cmd;
    }

    /// <summary>What an image without a box at the threshold says: the best score below it, or that there was none.</summary>
    public static string NoBoxHint(InferredImage r, double score) => r.BestBelowThreshold is double b
        ? string.Create(CultureInfo.InvariantCulture, $"no detection above --score {score:0.###} (best score {b:F3})")
        : "no detection (no box scored even 0.01)";

    /// <summary>Whether the model given is a segmenter (its checkpoint's architecture, or its ONNX file's task metadata).</summary>
    public static bool IsSegmenter(string? checkpoint, string? onnx)
    {
        if ((checkpoint is null) == (onnx is null)) return false; // Infer says what is wrong
        if (checkpoint is not null)
        {
            if (!File.Exists(checkpoint)) return false;
            var meta = Slim.Torch.Checkpoint.ReadMetadata(checkpoint);
            return meta.TryGetValue(Slim.Models.ModelOptions.MetadataPrefix + "architecture", out var arch)
                   && Slim.Tasks.TaskRegistry.Architectures.Contains(arch)
                   && Slim.Tasks.TaskRegistry.ForArchitecture(arch) == Slim.Tasks.Segmentation.SegmentationFamily.Instance;
        }
        return File.Exists(onnx) && SegmentationInference.IsSegmenterOnnx(onnx!);
    }

    /// <summary>The classes of one mask and their shares, largest first ("background 91.2 %, Dress 5.1 %").</summary>
    public static string Shares(SegmentedImage r) =>
        string.Join(", ", r.ClassShares.Take(4).Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Name} {s.Share * 100:F1} %")))
        + (r.ClassShares.Count > 4 ? $", {r.ClassShares.Count - 4} more" : "");

    /// <summary>The plain method behind the verb for a segmenter.</summary>
    public static IReadOnlyList<SegmentedImage> Segment(string? checkpoint, string? onnx, string images, string outDir, int threads)
    {
        if ((checkpoint is null) == (onnx is null)) throw new UsageException("give exactly one model: --checkpoint FILE or --onnx FILE");
        if (threads < 1) throw new UsageException($"--threads {threads}: must be at least 1");
        var list = ExportInference.ListImages(images);
        using var folderLock = RunLock.Acquire(outDir);
        return checkpoint is not null
            ? SegmentationInference.RunCheckpoint(checkpoint, list, outDir)
            : SegmentationInference.RunOnnx(onnx!, list, outDir, threads);
    }

    /// <summary>The plain method behind the verb.</summary>
    public static IReadOnlyList<InferredImage> Infer(string? checkpoint, string? onnx, string images, string outDir, double score, int threads)
    {
        if ((checkpoint is null) == (onnx is null)) throw new UsageException("give exactly one model: --checkpoint FILE or --onnx FILE");
        if (threads < 1) throw new UsageException($"--threads {threads}: must be at least 1");
        if (!(score >= 0 && score < 1))
            throw new SlimException(string.Create(CultureInfo.InvariantCulture, $"--score {score}: a detection score is in [0, 1); try 0.3"));
        var list = ExportInference.ListImages(images);
        using var folderLock = RunLock.Acquire(outDir); // one writer per folder
        return checkpoint is not null
            ? ExportInference.RunCheckpoint(checkpoint, list, outDir, score)
            : ExportInference.RunOnnx(onnx!, list, outDir, score, threads);
    }
}
