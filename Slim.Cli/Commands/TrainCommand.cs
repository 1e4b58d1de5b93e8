using System.CommandLine;
using Slim.Detection;
using Slim.Pipeline;
using Slim.Training;
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
        var launcher = new Launcher();
        launcher.AddTo(cmd);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            var r = recipe.Load(p);
            if (p.GetValue(allowChanges) && !p.GetValue(resume)) throw new UsageException("--allow-changes goes with --resume (it lets a resumed run take new settings)");
            bool resumeRun = p.GetValue(resume), allow = p.GetValue(allowChanges);
            return launcher.Run(p, r, p.GetValue(outDir)!, ct, w =>
            {
                var task = Slim.Training.Collectives.RankZeroFirst(w.Group, () => TaskRegistry.CreateTask(r, w.Progress.Info));
                using var folderLock = RunLock.Acquire(w.OutDir); // one writer per folder
                var run = TrainStage.Run(task, w.OutDir, resumeRun, w.Progress, ct, allowChanges: allow, group: w.Group);
                EvalCommand.Print(w.Console, task, run.Score);
                return ExitCode.Ok;
            });
        })));
        return cmd;
    }
}
