using System.CommandLine;
using System.Globalization;
using Slim.Compression.Pruning;
using Slim.Models;
using Slim.Pipeline;
using Slim.Recipes;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim sensitivity`: how much AP each layer loses when pruned alone, and ratios chosen from that.</summary>
public static class SensitivityCommand
{
    /// <summary>The command-line values (null = take the recipe's prune stage value).</summary>
    public sealed record Request(string Checkpoint, string? Params, string? Ratios, int? ValImages, string OutDir,
        double? TargetFlopsReduction, double? MaxLoss, string? Criterion);

    public static Command Create()
    {
        var recipe = new RecipeArgs();
        var checkpoint = new Option<string?>("--checkpoint") { Description = "The trained checkpoint (default: the recipe's model.checkpoint)." };
        var parameters = new Option<string?>("--params", "--pruned_params", "--pruned-params") { Description = "Conv weights to analyse: names or globs (default: the recipe's prune stage, else yolo_block.*.conv.weights)." };
        var ratios = new Option<string?>("--ratios") { Description = "Comma list of ratios to try, e.g. 0.1,0.3,0.5 (default 0.1 … 0.9)." };
        var valImages = new Option<int?>("--val-images") { Description = "Validation images per evaluation (default: all, or dataset.val_subset)." };
        var outDir = CommonOptions.Out("runs/sensitivity");
        var flops = CommonOptions.Fraction("--target-flops-reduction", "Choose per-layer ratios removing this share of the FLOPs (0.3 or 30%) with the least loss.");
        var maxLoss = CommonOptions.Fraction("--max-loss", "Or choose the largest ratio per layer whose AP loss stays within this, absolute (0.02 or 2% = 2 pts below the baseline; the table shows loss in % of the baseline).");
        var criterion = new Option<string?>("--criterion") { Description = "l1_norm, geometry_median or bn_scale (default: the recipe's)." };
        var cmd = new Command("sensitivity", """
            Prune each parameter alone at each ratio and measure VOC AP on the validation images; print the
            loss table and write sensitivity.json (saved after every point: an interrupted run resumes from
            it), sensitivity.png and sensitivity.txt to --out. With --target-flops-reduction or --max-loss,
            choose per-layer ratios from the curves and print them as --pruned_params/--pruned_ratios.

            Examples:
              slim sensitivity recipes/quickstart.yml --checkpoint runs/train/best.ckpt --ratios 0.1,0.3,0.5 --val-images 50
              slim sensitivity recipes/quickstart.yml --checkpoint runs/train/best.ckpt --target-flops-reduction 0.3
              slim sensitivity recipes/quickstart.yml --checkpoint runs/train/best.ckpt --params "yolo_block.0.*" --max-loss 0.02
              slim sensitivity recipes/quickstart.yml --checkpoint runs/train/best.ckpt --nproc-per-node 2
            """);
        recipe.AddTo(cmd);
        foreach (var o in new Option[] { checkpoint, parameters, ratios, valImages, outDir, flops, maxLoss, criterion }) cmd.Options.Add(o);
        var launcher = new Launcher();
        launcher.AddTo(cmd);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            var r = recipe.Load(p);
            var ckpt = p.GetValue(checkpoint) ?? r.Model.Checkpoint
                ?? throw new UsageException("give --checkpoint FILE (the trained model) or set model.checkpoint in the recipe");
            ModelCheckpoint.UseAsModel(ckpt, r);
            var request = new Request(ckpt, p.GetValue(parameters), p.GetValue(ratios), p.GetValue(valImages), p.GetValue(outDir)!,
                p.GetValue(flops), p.GetValue(maxLoss), p.GetValue(criterion));
            return launcher.Run(p, r, request.OutDir, ct, w => Execute(r, request with { OutDir = w.OutDir }, w.Console, w.Progress, ct, w.Group));
        })));
        return cmd;
    }

    /// <summary>Runs (or resumes) the analysis, prints the table and the chosen ratios.</summary>
    /// <param name="group">In a worker of a multi-process run, its group: the points are shared out (rank 0's file is kept).</param>
    public static ExitCode Execute(Recipe recipe, Request request, IAnsiConsole console, IProgressSink progress, CancellationToken cancel,
        Slim.Torch.ProcessGroup? group = null)
    {
        var stage = recipe.Stages.FirstOrDefault(s => s.Prune is not null)?.Prune ?? new PruneSection();
        var baseSection = stage.Sensitivity ?? new SensitivitySection();
        var section = new SensitivitySection
        {
            Ratios = request.Ratios is { } rs ? ParseRatios(rs) : baseSection.Ratios,
            ValImages = request.ValImages ?? baseSection.ValImages,
            TargetFlopsReduction = request.TargetFlopsReduction ?? (request.MaxLoss is null ? baseSection.TargetFlopsReduction : 0),
            MaxLoss = request.MaxLoss ?? (request.TargetFlopsReduction is null ? baseSection.MaxLoss : 0),
        };
        if (request.TargetFlopsReduction is { } f && !(f > 0 && f < 1))
            throw new SlimException($"--target-flops-reduction {f.ToString(CultureInfo.InvariantCulture)} must be in (0, 1)");
        if (request.MaxLoss is { } m && !(m > 0 && m <= 1))
            throw new SlimException($"--max-loss {m.ToString(CultureInfo.InvariantCulture)} must be in (0, 1]");
        if (section.ValImages < 0) throw new SlimException($"--val-images {section.ValImages} must be at least 0");
        var criterion = request.Criterion is { } c ? PruneModel.CriterionName(PruneModel.ParseCriterion(c)) : PruneModel.CriterionName(stage.Criterion);
        var family = TaskRegistry.For(recipe);
        var paramText = request.Params ?? PruneStage.Parameters(family, stage);
        if (string.IsNullOrWhiteSpace(paramText)) paramText = string.Join(",", family.DefaultPrunedParameters);

        using var loaded = ModelCheckpoint.Load(request.Checkpoint, family);
        var (model, arch, options) = (loaded.Model, loaded.Architecture, loaded.Options);
        var graph = PruneModel.Graph(model, options);
        var parameters = PruningRatios.ExpandParameters(paramText, graph);
        var task = Slim.Training.Collectives.RankZeroFirst(group, () => family.CreateTask(recipe, progress.Info, section.ValImages > 0 ? section.ValImages : null));
        using var folderLock = RunLock.Acquire(request.OutDir); // one writer per folder
        progress.Info($"sensitivity: {parameters.Count} parameters × {section.Ratios.Count} ratios on {task.ValImageCount} validation images ({criterion})");
        var outcome = PruneSensitivity.Run(model, () => family.CreateModel(arch, options), graph, parameters, section, criterion,
            net => task.Evaluate(net).Primary, request.OutDir, resume: true, progress, cancel, task.MetricName, task.ValImageCount, group);
        console.Write(Slim.Compression.Pruning.Sensitivity.SensitivityTable.Build(outcome.Result, task.ValImageCount).ToSpectre());
        console.WriteLine($"results: {Path.Combine(request.OutDir, PruneSensitivity.JsonName)}, plot: {Path.Combine(request.OutDir, PruneSensitivity.PngName)}");
        if (outcome.ChosenArguments is { } chosen)
        {
            console.WriteLine($"chosen ratios ({Path.Combine(request.OutDir, PruneSensitivity.ChosenName)}):");
            console.Profile.Out.Writer.WriteLine(chosen); // unwrapped, whatever the width: a command to copy
        }
        return ExitCode.Ok;
    }

    /// <summary>Parses "0.1,0.3,0.5"; each item must be a number in (0, 1).</summary>
    public static List<double> ParseRatios(string text)
    {
        var list = new List<double>();
        foreach (var raw in text.Split(','))
        {
            var s = raw.Trim();
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var r))
                throw new SlimException($"--ratios: '{s}' is not a number; give a comma list such as 0.1,0.3,0.5");
            if (!(r > 0 && r < 1)) throw new SlimException($"--ratios: {s} is outside (0, 1)");
            list.Add(r);
        }
        return list;
    }
}
