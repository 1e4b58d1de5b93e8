using System.Globalization;
using System.CommandLine;
using Slim.Pipeline;
using Slim.Recipes;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim verify`: AP, latency and size of exported models in ONNX Runtime against a baseline.</summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var recipe = new RecipeArgs();
        var fp32 = new Option<string?>("--fp32") { Description = $"The FP32 model ({ExportStage.Fp32FileName})." };
        var int8 = new Option<string?>("--int8") { Description = $"The INT8 model ({ExportStage.Int8FileName})." };
        var baselineAp = CommonOptions.Fraction("--baseline-ap", "Baseline AP or top-1 (0.55 or 55% both mean 55 %); default: the recipe's verify.baseline.ap.");
        var maxDrop = CommonOptions.Fraction("--max-drop", "Largest accepted drop below the baseline, absolute (0.02 or 2% both mean 2 pts); default: the recipe's verify.baseline.max_drop.");
        var threads = new Option<int?>("--threads") { Description = "ONNX Runtime threads for AP and latency; default: the recipe's verify.threads." };
        var outDir = CommonOptions.Out("runs/verify");
        var cmd = new Command("verify", $"""
            Measure the AP of exported models in ONNX Runtime on the recipe's validation set, their latency
            (batch 1, median after warm-up) and size, and compare the AP with the baseline. Prints a table,
            writes {VerifyStage.ResultFileName} to --out, and exits with code {(int)ExitCode.VerificationFailed} when a model's AP
            drop exceeds the tolerance.

            Examples:
              slim verify recipes/quickstart.yml --fp32 runs/qs/export/model_fp32.onnx --int8 runs/qs/export/model_int8.onnx --baseline-ap 55% --max-drop 2%
              slim verify recipes/quickstart.yml --fp32 model_fp32.onnx --baseline-ap 0.6 --threads 4 --out runs/verify
            """);
        recipe.AddTo(cmd);
        foreach (var o in new Option[] { fp32, int8, baselineAp, maxDrop, threads, outDir }) cmd.Options.Add(o);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            var r = recipe.Load(p);
            var outcome = Verify(r, p.GetValue(fp32), p.GetValue(int8), p.GetValue(baselineAp), p.GetValue(maxDrop), p.GetValue(threads),
                p.GetValue(outDir)!, new ConsoleProgress(), ct);
            AnsiConsole.Console.Write(outcome.ToTable());
            outcome.ThrowIfFailed();
            return ExitCode.Ok;
        })));
        return cmd;
    }

    /// <summary>The plain method behind the verb: verifies and writes verify.json (it does not throw on a failed check).</summary>
    public static VerifyOutcome Verify(Recipe recipe, string? fp32, string? int8, double? baselineAp, double? maxDrop, int? threads,
        string outDir, IProgressSink progress, CancellationToken cancel)
    {
        if (fp32 is null && int8 is null) throw new UsageException("give the model(s) to verify: --fp32 FILE and/or --int8 FILE");
        foreach (var (opt, path) in new[] { ("--fp32", fp32), ("--int8", int8) })
            if (path is not null && !File.Exists(path)) throw new FileNotFoundException($"{opt}: ONNX model not found: {path}", path);
        if (baselineAp is { } b && !(b >= 0 && b <= 1)) throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--baseline-ap {b}: expected an AP between 0 and 1 (0.55) or 0% and 100% (55%)"));
        if (maxDrop is { } d && !(d >= 0 && d <= 1)) throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--max-drop {d}: expected a drop between 0 and 1 (0.02) or 0% and 100% (2%)"));
        if (threads is < 1) throw new UsageException($"--threads {threads}: must be at least 1");
        var baseline = baselineAp ?? recipe.Verify.Baseline.Ap
            ?? throw new UsageException("no baseline AP: give --baseline-ap (0.55 or 55%) or set verify.baseline.ap in the recipe");
        var section = new VerifySection
        {
            Enabled = true,
            Threads = threads ?? recipe.Verify.Threads,
            LatencyRuns = recipe.Verify.LatencyRuns,
            WarmupRuns = recipe.Verify.WarmupRuns,
            Baseline = new BaselineSection { Ap = baseline, MaxDrop = maxDrop ?? recipe.Verify.Baseline.MaxDrop },
        };
        var task = TaskRegistry.CreateTask(recipe, progress.Info);
        using var folderLock = RunLock.Acquire(outDir); // one writer per folder
        var exported = new ExportOutcome(fp32, fp32 is null ? 0 : new FileInfo(fp32).Length, int8, int8 is null ? 0 : new FileInfo(int8).Length, 0);
        return VerifyStage.Run(new StageContext(recipe, task, outDir, false, progress, cancel), exported, section, baseline);
    }
}
