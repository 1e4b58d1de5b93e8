using System.Diagnostics;
using System.Text.Json;
using Slim.Cli;
using Slim.Cli.Commands;
using Slim.Pipeline;

namespace Slim.Cli.Tests;

/// <summary>A tiny generated dataset shared by the `slim run` tests.</summary>
public sealed class RunFixture : IDisposable
{
    public RunFixture()
    {
        Root = Directory.CreateTempSubdirectory("slim-run-").FullName;
        Dataset = Path.Combine(Root, "data");
        // The shipped quick start, shortened: same stages, a few iterations each, 96 px.
        Overrides = new[]
        {
            $"dataset.root={Dataset}", "dataset.generate.train_images=24", "dataset.generate.val_images=8",
            "dataset.generate.image_size=96", "model.input_size=96", "threads=1", "train.iterations=20", "train.batch_size=4",
            "train.warmup_steps=2",
        };
        DetectionTask.EnsureSynthetic(new Slim.Recipes.DatasetSection
        {
            Root = Dataset,
            // The quick start's generator settings (max_objects 3), sized down as the overrides say.
            Generate = new Slim.Recipes.SyntheticSection { TrainImages = 24, ValImages = 8, ImageSize = 96, MaxObjects = 3 },
        }, null);
    }

    public string Root { get; }
    public string Dataset { get; }
    public string[] Overrides { get; }

    public static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, relative))) return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException(relative);
    }

    /// <summary>The quick-start recipe with its stages shortened (written next to the run folders).</summary>
    public string ShortRecipe()
    {
        var path = Path.Combine(Root, "short.yml");
        if (File.Exists(path)) return path;
        File.WriteAllText(path, $$"""
            base: {{RepoFile("recipes/quickstart.yml")}}
            name: short
            stages:
              - prune:
                  pruned_params: "yolo_block.*.conv.weights"
                  pruned_ratios: r578
                  sensitivity: {ratios: [0.5], val_images: 4}
                  fine_tune: {iterations: 4}
                  distill: {teacher: baseline, type: split_distill}
              - quant:
                  mode: aware
                  fine_tune: {iterations: 4}
            verify: {baseline: {max_drop: 1.0}, latency_runs: 2, warmup_runs: 1}
            """);
        return path;
    }

    public void Dispose() => Directory.Delete(Root, true);
}

public class RunCommandTests(RunFixture fx) : IClassFixture<RunFixture>
{
    /// <summary>Runs the slim command in process; returns the exit code and what it wrote to stderr.</summary>
    internal static (int code, string stderr) Run(params string[] args)
    {
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        try
        {
            return (Program.Run(args), err.ToString());
        }
        finally
        {
            Console.SetError(old);
        }
    }

    internal static RunReport Report(string dir) => RunReport.FromJson(File.ReadAllText(Path.Combine(dir, "report.json")));

    [Fact]
    public void ShortQuickStartRunsEveryStageAndItsReportIsConsistent()
    {
        var outDir = Path.Combine(fx.Root, "straight");
        var args = new List<string> { "run", fx.ShortRecipe(), "--out", outDir };
        foreach (var o in fx.Overrides) args.AddRange(new[] { "-o", o });
        var (code, stderr) = Run(args.ToArray());
        Assert.True(code == 0, stderr);
        var r = Report(outDir);
        Assert.Equal(new[] { "baseline", "prune", "quant", "onnx fp32", "onnx int8" }, r.Stages.Select(s => s.Stage));
        var baseline = r.Stages[0];
        var pruned = r.Stages[1];
        Assert.True(pruned.Gflops < baseline.Gflops, $"pruned GFLOPs {pruned.Gflops} not below {baseline.Gflops}");
        Assert.True(pruned.Parameters < baseline.Parameters);
        // The stage's own figures: the AP right after pruning as the log said it, and after the fine-tune.
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"right after pruning = {pruned.Figures!["ap_after_prune"] * 100:F2} %"), stderr);
        Assert.Equal(pruned.Ap, pruned.Figures["ap_after_finetune"]);
        Assert.Null(r.Stages.Single(s => s.Stage == "onnx fp32").Figures);
        foreach (var s in r.Stages.Take(3)) Assert.NotNull(s.Ap);
        foreach (var s in r.Stages.Skip(3))
        {
            Assert.NotNull(s.OrtAp);
            Assert.True(s.LatencyMs > 0);
            Assert.True(File.Exists(s.Onnx));
        }
        var fp32 = r.Stages.Single(s => s.Stage == "onnx fp32");
        var int8 = r.Stages.Single(s => s.Stage == "onnx int8");
        Assert.True(int8.OnnxSizeMiB < 0.35 * fp32.OnnxSizeMiB, $"INT8 {int8.OnnxSizeMiB} MiB vs FP32 {fp32.OnnxSizeMiB} MiB");
        Assert.Contains("| baseline |", File.ReadAllText(Path.Combine(outDir, "report.md")));

        // The recipe's gate is wide (a 20-iteration model); the gate itself is checked with figures that must fail
        // and pass: a baseline 1 pt above the better model and a tolerance of 0.5 pts fails both models (exit 4),
        // a tolerance just above the worse model's drop passes both.
        double baselineAp = Math.Max(fp32.OrtAp!.Value, int8.OrtAp!.Value) + 0.01;
        double worstDrop = baselineAp - Math.Min(fp32.OrtAp!.Value, int8.OrtAp!.Value);
        string F(double v) => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        var verify = new List<string> { "verify", fx.ShortRecipe(), "--fp32", fp32.Onnx!, "--int8", int8.Onnx!, "--baseline-ap", F(baselineAp) };
        foreach (var o in fx.Overrides) verify.AddRange(new[] { "-o", o });
        var (failed, errFail) = Run(verify.Concat(new[] { "--max-drop", "0.5%", "--out", Path.Combine(fx.Root, "verify-fail") }).ToArray());
        Assert.Equal((int)ExitCode.VerificationFailed, failed);
        Assert.Contains("fp32 model model_fp32.onnx", errFail);
        Assert.Contains("int8 model model_int8.onnx", errFail);
        var (passed, errPass) = Run(verify.Concat(new[] { "--max-drop", F(worstDrop + 0.001), "--out", Path.Combine(fx.Root, "verify-pass") }).ToArray());
        Assert.True(passed == 0, errPass);

        // A second run into the same folder without --resume is refused and changes nothing.
        var before = File.ReadAllText(Path.Combine(outDir, "report.json"));
        var (again, err2) = Run(args.ToArray());
        Assert.Equal((int)ExitCode.InvalidInput, again);
        Assert.Contains("--resume", err2);
        Assert.Equal(before, File.ReadAllText(Path.Combine(outDir, "report.json")));
        Assert.False(File.Exists(Path.Combine(outDir, RunLock.FileName)), "the run left its lock behind");

        // Resuming with another learning rate is refused, naming the change; --allow-changes takes it and says so.
        var changed = args.Concat(new[] { "--resume", "-o", "train.lr=0.0123" }).ToArray();
        var (refused, err3) = Run(changed);
        Assert.Equal((int)ExitCode.InvalidInput, refused);
        Assert.Contains("train.lr: 0.002 → 0.0123", err3);
        Assert.Contains("--allow-changes", err3);
        Assert.Equal(before, File.ReadAllText(Path.Combine(outDir, "report.json")));
        var (allowed, err4) = Run(changed.Append("--allow-changes").ToArray());
        Assert.True(allowed == 0, err4);
        Assert.Contains("resuming with a changed setting: train.lr: 0.002 → 0.0123", err4);
        // Unchanged settings resume without a word about them.
        var (same, err5) = Run(changed.Append("--allow-changes").ToArray());
        Assert.True(same == 0, err5);
        Assert.DoesNotContain("changed setting", err5);

        // While one process holds the folder, another is refused.
        using (RunLock.Acquire(outDir))
        {
            var (locked, err6) = Run(changed);
            Assert.Equal((int)ExitCode.InvalidInput, locked);
            Assert.Contains("is being written by another slim process", err6);
        }
    }

    [Fact]
    public void ALockLeftByADeadProcessIsTakenOver()
    {
        var dir = Path.Combine(fx.Root, "stale-lock");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, RunLock.FileName), "pid 999999 since 2026-01-01 00:00:00 UTC\n");
        Assert.False(RunLock.HasContent(dir), "a folder holding only a stale lock counts as empty (a run killed before writing)");
        using (RunLock.Acquire(dir)) // nobody holds the file: taken over
        {
            var refused = Assert.Throws<SlimException>(() => RunLock.Acquire(dir)).Message;
            Assert.Contains($"another slim process (pid {Environment.ProcessId} since ", refused);
            Assert.Contains($"another slim process (pid {Environment.ProcessId} since ", Assert.Throws<SlimException>(() => RunLock.ThrowIfHeld(dir)).Message);
        }
        Assert.False(File.Exists(Path.Combine(dir, RunLock.FileName)), "the lock file stays after its holder ended");
        RunLock.ThrowIfHeld(dir);
        using (RunLock.Acquire(dir)) { } // and free again
        Assert.True(Directory.Exists(dir), "a folder the lock did not create is kept");

        // Folders the lock created are removed on release when nothing was written into them, up to the first that existed.
        var nested = Path.Combine(fx.Root, "lock-made", "a", "b");
        using (RunLock.Acquire(nested)) Assert.True(Directory.Exists(nested));
        Assert.False(Directory.Exists(Path.Combine(fx.Root, "lock-made")));
        using (RunLock.Acquire(nested)) File.WriteAllText(Path.Combine(nested, "result.txt"), "kept");
        Assert.True(File.Exists(Path.Combine(nested, "result.txt")));
    }

    [Fact]
    public void KilledRunResumesToTheSameReport()
    {
        var recipe = fx.ShortRecipe();
        var straight = Path.Combine(fx.Root, "ref");
        var common = fx.Overrides.SelectMany(o => new[] { "-o", o }).Concat(new[] { "-o", "train.iterations=40" }).ToArray();
        var (code, stderr) = Run(new[] { "run", recipe, "--out", straight }.Concat(common).ToArray());
        Assert.True(code == 0, stderr);

        var killed = Path.Combine(fx.Root, "killed");
        var slim = Path.Combine(AppContext.BaseDirectory, "slim.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { slim, "run", recipe, "--out", killed }.Concat(common)) psi.ArgumentList.Add(a);
        using (var p = Process.Start(psi)!)
        {
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var ckpt = Path.Combine(killed, "stages", "00_train", Trainer.LastName);
            var watch = Stopwatch.StartNew();
            while (!File.Exists(ckpt) && !p.HasExited && watch.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(20);
            Assert.False(p.HasExited, "the run ended before it could be killed");
            Assert.True(File.Exists(ckpt), "no checkpoint was written within 3 minutes: killing now would test a fresh run, not a resume");
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(killed, "report.json")));
        var (resumed, err) = Run(new[] { "run", recipe, "--out", killed, "--resume" }.Concat(common).ToArray());
        Assert.True(resumed == 0, err);
        // It went on from the killed run's checkpoint, not from scratch.
        Assert.Matches(@"train baseline: resuming at iteration [1-9]\d* from ", err);

        var a1 = Report(straight).Stages;
        var a2 = Report(killed).Stages;
        Assert.Equal(a1.Select(s => (s.Stage, s.Gflops, s.Parameters, s.Ap, s.OrtAp)), a2.Select(s => (s.Stage, s.Gflops, s.Parameters, s.Ap, s.OrtAp)));
    }

    public static IEnumerable<object[]> BrokenRecipes() =>
        Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "BrokenRecipes"), "*.yml").OrderBy(f => f).Select(f => new object[] { Path.GetFileName(f) });

    [Theory]
    [MemberData(nameof(BrokenRecipes))]
    public void BrokenRecipeGetsOneLineErrorAndLeavesNothing(string name)
    {
        var file = Path.Combine(AppContext.BaseDirectory, "BrokenRecipes", name);
        var text = File.ReadAllText(file);
        var expect = text.Split('\n')[0].Replace("# expect: ", "").Trim();
        var outDir = Path.Combine(fx.Root, "broken-" + Path.GetFileNameWithoutExtension(name));
        var args = new List<string> { "run", file, "--out", outDir };
        // Keep the (valid) rest of the recipe small and on the shared data, unless the file is about those keys.
        if (!text.Contains("dataset:")) args.AddRange(new[] { "-o", $"dataset.root={fx.Dataset}", "-o", "dataset.generate.train_images=24", "-o", "dataset.generate.val_images=8", "-o", "dataset.generate.image_size=96", "-o", "dataset.generate.max_objects=3" });
        if (!text.Contains("model:")) args.AddRange(new[] { "-o", "model.width=0.25", "-o", "model.input_size=96" });
        var (code, stderr) = Run(args.ToArray());
        Assert.Equal((int)ExitCode.InvalidInput, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var errors = lines.Where(l => l.StartsWith("slim: error: ", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1 && lines[^1] == errors[0], $"expected one error line, last, got:\n{stderr}");
        Assert.Contains(expect, errors[0]);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), $"{outDir} has files");

        // slim recipe check --data refuses the same recipe with the same line, so a recipe that checks runs.
        args[0] = "recipe";
        args.Insert(1, "check");
        args.RemoveRange(3, 2); // --out DIR
        args.Add("--data");
        var (checkCode, checkErr) = Run(args.ToArray());
        Assert.Equal((int)ExitCode.InvalidInput, checkCode);
        Assert.Equal(errors[0], checkErr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Single());
    }

    [Fact]
    public void RecipeCheckWithoutDataBuildsTheModelAndResolvesEveryStage()
    {
        var dir = Directory.CreateTempSubdirectory("slim-check-").FullName;
        try
        {
            string Write(string name, string body)
            {
                var path = Path.Combine(dir, name);
                File.WriteAllText(path, $"base: {fx.ShortRecipe()}\n{body}");
                return path;
            }
            var ok = Write("ok.yml", "");
            var output = new StringWriter();
            Assert.Equal(ExitCode.Ok, RecipeCommand.Check(ok, [], output));
            Assert.Contains("ok (yolov3_mobilenet_v1", output.ToString());
            Assert.Contains("every pattern and ratio list resolves", output.ToString());
            Assert.False(Directory.Exists(Path.Combine(dir, "data")), "recipe check without --data opened the data");
            // A wrong ratio count, a glob matching nothing, a not_quant pattern matching nothing: all named with the file.
            foreach (var (body, expect) in new[]
                     {
                         ("stages:\n  - prune: {pruned_params: \"yolo_block.*.conv.weights\", pruned_ratios: \"0.5,0.5\"}\n", "has 2 ratios"),
                         ("stages:\n  - prune: {pruned_params: \"yolo_blok.*\", pruned_ratios: \"0.5\"}\n", "'yolo_blok.*' matches no parameter"),
                         ("stages:\n  - quant: {not_quant: [se_blok]}\n", "'se_blok' matches no module path"),
                         ("model: {input_size: 100}\n", "model.input_size: 100 is not a multiple of 32"),
                     })
            {
                var bad = Write("bad.yml", body);
                var e = Assert.ThrowsAny<SlimException>(() => RecipeCommand.Check(bad, [], TextWriter.Null));
                Assert.StartsWith(bad + ": ", e.Message);
                Assert.Contains(expect, e.Message);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
