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
            if (launcher.LaunchIfAsked(p, r, ct) is { } launched) return launched;
            using var group = Launcher.Worker();
            Runtime.Configure(r, Launcher.ProcessesOnHost);
            if (group is not null && Slim.Data.DataShard.CheckBatchSize(r.Train.BatchSize, group.world_size) is { } split) throw new SlimException(split);
            IProgressSink progress = group is { rank: > 0 } ? NullProgress.Instance : new ConsoleProgress();
            // Rank 0 opens the data first (generating sample data if needed) and owns --out; the others follow in scratch folders.
            var task = group is { rank: > 0 } ? null : TaskRegistry.CreateTask(r, progress.Info);
            group?.barrier();
            task ??= TaskRegistry.CreateTask(r, progress.Info);
            var outPath = Path.GetFullPath(p.GetValue(outDir)!);
            if (group is { rank: > 0 })
            {
                var scratch = RecipeRunner.ScratchFolder(group.BroadcastString(null), group.rank);
                try
                {
                    TrainStage.Run(task, scratch, p.GetValue(resume), progress, ct, allowChanges: p.GetValue(allowChanges), group: group);
                }
                finally
                {
                    try { Directory.Delete(scratch, true); } catch (IOException) { }
                }
                return ExitCode.Ok;
            }
            group?.BroadcastString(outPath);
            using var folderLock = RunLock.Acquire(outPath); // one writer per folder
            var run = TrainStage.Run(task, outPath, p.GetValue(resume), progress, ct, allowChanges: p.GetValue(allowChanges), group: group);
            EvalCommand.Print(AnsiConsole.Console, task, run.Score);
            return ExitCode.Ok;
        })));
        return cmd;
    }
}
