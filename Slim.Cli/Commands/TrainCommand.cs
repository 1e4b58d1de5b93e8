using System.CommandLine;
using Slim.Detection;
using Slim.Pipeline;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim train`: train the recipe's baseline model (any task).</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var recipe = new RecipeArgs();
        var outDir = CommonOptions.Out("runs/train");
        var resume = new Option<bool>("--resume") { Description = "Continue from OUT/last.ckpt exactly where an interrupted run stopped." };
        var cmd = new Command("train", """
            Train the recipe's model on its dataset (warm-up, LR schedule, periodic evaluation), writing
            best.ckpt and last.ckpt atomically to --out, then print the AP table.

            Examples:
              slim train recipes/quickstart.yml --out runs/qs-train
              slim train recipes/quickstart.yml -o train.iterations=100 --out runs/short --resume
            """);
        recipe.AddTo(cmd);
        cmd.Options.Add(outDir);
        cmd.Options.Add(resume);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            var r = recipe.Load(p);
            var progress = new ConsoleProgress();
            var task = TaskRegistry.CreateTask(r, progress.Info);
            var run = TrainStage.Run(task, p.GetValue(outDir)!, p.GetValue(resume), progress, ct);
            EvalCommand.Print(AnsiConsole.Console, task, run.Score);
            return ExitCode.Ok;
        })));
        return cmd;
    }
}
