using System.CommandLine;
using Slim.Models;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using Slim.Training;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim run`: every stage of a recipe, then the model-zoo report.</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var recipe = new RecipeArgs();
        var outDir = CommonOptions.Out("runs/run");
        var resume = new Option<bool>("--resume") { Description = "Skip finished stages and continue the interrupted one from its last checkpoint." };
        var allowChanges = new Option<bool>("--allow-changes") { Description = "With --resume: continue although the recipe's settings changed since the folder was started (each change is said)." };
        var cmd = new Command("run", """
            Run a whole recipe: train the baseline, each compression stage (prune, distill, quant) in order,
            export ONNX (FP32 and INT8), verify AP in ONNX Runtime, and write report.md, report.html and report.json
            to the run folder. Ctrl+C saves a checkpoint; --resume continues.

            Examples:
              slim run recipes/quickstart.yml --out runs/quickstart
              slim run recipes/quickstart.yml --out runs/quickstart --resume
              slim run recipes/quickstart.yml -o train.iterations=200 --out runs/short
              slim run recipes/quickstart.yml --nproc-per-node 2 --out runs/dp2
            """);
        recipe.AddTo(cmd);
        cmd.Options.Add(outDir);
        cmd.Options.Add(resume);
        cmd.Options.Add(allowChanges);
        var launcher = new Launcher();
        launcher.AddTo(cmd);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            if (p.GetValue(allowChanges) && !p.GetValue(resume)) throw new UsageException("--allow-changes goes with --resume (it lets a resumed run take new settings)");
            var file = p.GetValue(recipe.File)!;
            var overrides = p.GetValue(recipe.Overrides) ?? Array.Empty<string>();
            var loaded = RecipeLoader.Load<Recipe>(file, overrides); // a broken recipe is said once, before any worker starts
            if (launcher.LaunchIfAsked(p, loaded, ct) is { } launched) return launched;
            using var group = Launcher.Join();
            return Execute(file, overrides, p.GetValue(outDir)!, p.GetValue(resume), AnsiConsole.Console,
                group is { rank: > 0 } ? NullProgress.Instance : new ConsoleProgress(), ct, p.GetValue(allowChanges), group);
        })));
        return cmd;
    }

    /// <param name="group">In a worker of a multi-process run, its group; rank 0 prints the report, the others nothing.</param>
    public static ExitCode Execute(string recipePath, IReadOnlyList<string> overrides, string outDir, bool resume,
        IAnsiConsole console, IProgressSink progress, CancellationToken cancel, bool allowChanges = false, ProcessGroup? group = null)
    {
        var r = RecipeLoader.Load<Recipe>(recipePath, overrides);
        Runtime.Configure(r, Launcher.ProcessesOnHost);
        try
        {
            var report = new RecipeRunner(progress, group).Run(r, recipePath, outDir, resume, cancel, allowChanges);
            if (group is { rank: > 0 }) return ExitCode.Ok;
            console.Write(report.ToTable());
        }
        catch (VerificationFailedException)
        {
            // The report was written before the verdict; show it, then fail with the verdict.
            var json = Path.Combine(outDir, "report.json");
            if (File.Exists(json)) console.Write(RunReport.FromJson(File.ReadAllText(json)).ToTable());
            throw;
        }
        console.WriteLine($"report: {Path.Combine(outDir, "report.md")} (with figures: {Path.Combine(outDir, HtmlReport.FileName)})");
        return ExitCode.Ok;
    }
}
