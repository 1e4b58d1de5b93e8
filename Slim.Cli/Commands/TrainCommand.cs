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
        var allowChanges = new Option<bool>("--allow-changes") { Description = "With --resume: continue although the training settings changed (each change is said)." };
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
        cmd.Options.Add(allowChanges);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            var r = recipe.Load(p);
            var progress = new ConsoleProgress();
            var task = TaskRegistry.CreateTask(r, progress.Info);
            if (p.GetValue(allowChanges) && !p.GetValue(resume)) throw new UsageException("--allow-changes goes with --resume (it lets a resumed run take new settings)");
            using var folderLock = RunLock.Acquire(p.GetValue(outDir)!); // one writer per folder
            var run = TrainStage.Run(task, p.GetValue(outDir)!, p.GetValue(resume), progress, ct, allowChanges: p.GetValue(allowChanges));
            EvalCommand.Print(AnsiConsole.Console, task, run.Score);
            return ExitCode.Ok;
        })));
        return cmd;
    }
}
