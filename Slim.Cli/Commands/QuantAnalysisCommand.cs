using System.CommandLine;
using Slim.Pipeline;
using Slim.Recipes;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim quant-analysis`: which layers cost accuracy in int8, each quantized alone.</summary>
public static class QuantAnalysisCommand
{
    public static Command Create()
    {
        var recipe = new RecipeArgs();
        var checkpoint = new Option<string?>("--checkpoint") { Description = "The float checkpoint (default: the recipe's model.checkpoint)." };
        var mode = new Option<string?>("--mode") { Description = "post (calibration, default) or aware (QAT first, then the analysis on its thresholds)." };
        var algo = new Option<string?>("--algo") { Description = "post: abs_max, avg, hist, kl or mse (default: the recipe's quant stage)." };
        var batches = new Option<int?>("--calibration-batches") { Description = "post: batches of training images to calibrate on." };
        var outDir = CommonOptions.Out("runs/quant-analysis");
        var cmd = new Command("quant-analysis", """
            Quantize a float checkpoint as the recipe's quant stage says (post-training by default), then score
            the model with one layer at a time in int8 (its weights and input; everything else float) and rank
            the layers by what each costs: the ones to keep in float (quant.not_quant) when the int8 model loses
            too much. Writes quant_analysis.json, quant_analysis.txt and quant_analysis.png to --out.

            Examples:
              slim quant-analysis recipes/quickstart.yml --checkpoint runs/qs/stages/00_train/best.ckpt
              slim quant-analysis recipes/quickstart.yml --checkpoint best.ckpt --algo kl --out runs/qa-kl
            """);
        recipe.AddTo(cmd);
        foreach (var o in new Option[] { checkpoint, mode, algo, batches, outDir }) cmd.Options.Add(o);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            var settings = new QuantCommand.Settings(p.GetValue(checkpoint), p.GetValue(mode) ?? "post", p.GetValue(algo), Array.Empty<string>(),
                p.GetValue(batches), null, p.GetValue(outDir)!, false);
            var r = recipe.Load(p);
            return Execute(r, QuantCommand.Section(r, settings), settings, new ConsoleProgress(), AnsiConsole.Console, ct);
        })));
        return cmd;
    }

    /// <summary>Runs the analysis and prints the ranking.</summary>
    public static ExitCode Execute(Recipe recipe, QuantSection section, QuantCommand.Settings s, IProgressSink progress, IAnsiConsole console, CancellationToken cancel)
    {
        var checkpoint = s.Checkpoint ?? recipe.Model.Checkpoint
            ?? throw new UsageException("give the checkpoint to analyse: --checkpoint FILE (or set model.checkpoint in the recipe)");
        ModelCheckpoint.UseAsModel(checkpoint, recipe);
        var task = TaskRegistry.CreateTask(recipe, progress.Info);
        using var folderLock = RunLock.Acquire(s.Out); // one writer per folder
        var ctx = new StageContext(recipe, task, s.Out, false, progress, cancel);
        var result = QuantAnalysisStage.Run(ctx, checkpoint, section);
        console.Write(QuantAnalysisStage.ToTable(result, task.MetricName));
        console.WriteLine($"results: {Path.Combine(s.Out, QuantAnalysisStage.JsonName)}, plot: {Path.Combine(s.Out, QuantAnalysisStage.PngName)}");
        return ExitCode.Ok;
    }
}
