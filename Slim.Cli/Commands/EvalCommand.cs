using System.CommandLine;
using System.Globalization;
using Slim.Detection;
using Slim.Pipeline;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim eval`: the metric of a checkpoint or ONNX model on the recipe's validation set (any task), or of a COCO results file.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var recipeFile = new Argument<string?>("recipe") { Description = "The recipe YAML file (names the dataset).", Arity = ArgumentArity.ZeroOrOne };
        var overrides = CommonOptions.Overrides();
        var checkpoint = new Option<string?>("--checkpoint") { Description = "The checkpoint to evaluate (default: the recipe's model.checkpoint)." };
        var onnx = new Option<string?>("--onnx") { Description = "Evaluate an exported ONNX model in ONNX Runtime instead." };
        var annotations = new Option<string?>("--annotations") { Description = "COCO instances json (with --results: score a results file, no model)." };
        var results = new Option<string?>("--results") { Description = "COCO results json from any detector." };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime threads (with --onnx).", DefaultValueFactory = _ => 1 };
        var masks = new Option<string?>("--masks") { Description = "A folder of ground-truth label PNGs (with --predictions: score segmentation masks, no model)." };
        var predictions = new Option<string?>("--predictions") { Description = "A folder of predicted label PNGs, one per ground-truth mask, paired by file name." };
        var numClasses = new Option<int?>("--num-classes") { Description = "Classes of the masks (with --masks)." };
        var ignore = new Option<int>("--ignore") { Description = "Ground-truth label of pixels to leave out (with --masks).", DefaultValueFactory = _ => 255 };
        var classNames = new Option<string?>("--class-names") { Description = "A file of class names, one per line in label order (with --masks; e.g. PaddleSeg's labels.txt)." };
        var cmd = new Command("eval", """
            Print the AP table (VOC mAP@0.5 and the COCO metrics) of a checkpoint or an ONNX model on the
            recipe's validation set, or score a COCO-format results file as pycocotools users do, or label PNGs
            of a segmentation tool (mIoU, per-class IoU and accuracy; 8-bit gray or palette PNGs whose values are
            the classes; pixels labelled --ignore in the ground truth and classes absent from it do not count).

            Examples:
              slim eval recipes/quickstart.yml --checkpoint runs/quickstart/stages/00_train/best.ckpt
              slim eval recipes/quickstart.yml --onnx runs/quickstart/export/model_int8.onnx
              slim eval --annotations instances_val.json --results detections.json
              slim eval --masks cityscapes/gtFine/val --predictions out/pred --num-classes 19
            """);
        cmd.Arguments.Add(recipeFile);
        foreach (var o in new Option[] { overrides, checkpoint, onnx, annotations, results, threads, masks, predictions, numClasses, ignore, classNames }) cmd.Options.Add(o);
        cmd.SetAction(p => CliRunner.Run(() =>
        {
            var console = AnsiConsole.Console;
            if (p.GetValue(annotations) is { } ann)
            {
                var res = p.GetValue(results) ?? throw new UsageException("--annotations needs --results (a COCO results json)");
                var eval = CocoEvaluator.EvaluateFiles(ann, res);
                console.Write(ApTable.Coco(eval).ToSpectre());
                return ExitCode.Ok;
            }
            if (p.GetValue(masks) is { } truthDir)
            {
                var predicted = p.GetValue(predictions) ?? throw new UsageException("--masks needs --predictions (a folder of predicted label PNGs)");
                var n = p.GetValue(numClasses) ?? throw new UsageException("--masks needs --num-classes N (the classes the labels count, 0…N-1)");
                if (n is < 1 or > 255) throw new UsageException($"--num-classes {n}: label PNGs hold 1 to 255 classes");
                if (p.GetValue(ignore) is var ig && ig is < 0 or > 255) throw new UsageException($"--ignore {ig}: a label PNG's value is 0…255");
                if (ig < n) throw new UsageException($"--ignore {ig} is one of the {n} classes; give a label outside 0…{n - 1} (255 by convention)");
                IReadOnlyList<string>? names = null;
                if (p.GetValue(classNames) is { } namesFile)
                {
                    if (!File.Exists(namesFile)) throw new UsageException($"--class-names {namesFile}: file not found (one class name per line)");
                    names = File.ReadAllLines(namesFile).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
                    if (names.Count != n) throw new UsageException($"--class-names {namesFile}: {names.Count} names for --num-classes {n}");
                }
                var (matrix, images, unpaired) = Slim.Segmentation.MaskEvaluator.EvaluateFolders(truthDir, predicted, n, ig);
                var scores = matrix.Scores();
                console.Write(Slim.Segmentation.IouTable.PerClass(scores, names).ToSpectre());
                console.WriteLine(Slim.Segmentation.IouTable.Summary(scores, images));
                if (unpaired > 0) console.WriteLine($"{unpaired} prediction(s) without ground truth left out");
                return ExitCode.Ok;
            }
            if (p.GetValue(predictions) is not null || p.GetValue(numClasses) is not null || p.GetValue(classNames) is not null)
                throw new UsageException("--predictions, --num-classes and --class-names go with --masks (a folder of ground-truth label PNGs)");
            if (p.GetValue(recipeFile) is not { } file) throw new UsageException("give a recipe (or --annotations with --results, or --masks with --predictions)");
            if (p.GetValue(threads) is var t && t < 1) throw new UsageException($"--threads {t}: must be at least 1");
            var r = Slim.Recipes.RecipeLoader.Load<Slim.Recipes.Recipe>(file, p.GetValue(overrides) ?? Array.Empty<string>());
            Runtime.Configure(r);
            string? ckpt = null;
            if (p.GetValue(onnx) is null)
            {
                ckpt = p.GetValue(checkpoint) ?? r.Model.Checkpoint ?? throw new UsageException("give --checkpoint FILE (or set model.checkpoint in the recipe)");
                ModelCheckpoint.UseAsModel(ckpt, r);
            }
            var task = TaskRegistry.CreateTask(r, new ConsoleProgress().Info);
            TaskScore score;
            if (p.GetValue(onnx) is { } onnxPath)
            {
                using (var sample = task.SampleInput()) VerifyStage.RequireInputFits("ONNX", onnxPath, sample.shape);
                score = task.EvaluateOnnx(onnxPath, p.GetValue(threads));
            }
            else
            {
                using var loaded = ModelCheckpoint.Load(ckpt!, task.Family);
                score = task.Evaluate(loaded.Model);
            }
            Print(console, task, score);
            return ExitCode.Ok;
        }));
        return cmd;
    }

    /// <summary>Prints the score's tables (VOC and COCO for detectors, per-class top-1 for classifiers) and the metric.</summary>
    public static void Print(IAnsiConsole console, ITask task, TaskScore score)
    {
        foreach (var table in score.Tables) console.Write(table.ToSpectre());
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{task.MetricName}: {score.Primary * 100:F2} % ({score.Summary})"));
    }
}
