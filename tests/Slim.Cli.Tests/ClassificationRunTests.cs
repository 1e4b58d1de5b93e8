using System.Diagnostics;
using System.Text.Json;
using Slim.Cli;
using Slim.Pipeline;

namespace Slim.Cli.Tests;

/// <summary>`slim run` on a classification recipe: the same verb, runner, folders and resume as detection.</summary>
public class ClassificationRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-cls-run-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    // The model, data and training every recipe here shares (one YAML flow mapping per line, so it fits any indent).
    private static readonly string Trained = TrainedFor(60);

    private static string TrainedFor(int iterations) =>
        "seed: 7\nthreads: 1\nmodel: {name: mobilenet_v1, width: 0.25, input_size: 32}\n" +
        "dataset: {format: fashion_mnist, root: /usr/share/datasets/fashion-mnist, train_subset: 512, val_subset: 100, workers: 1}\n" +
        $"train: {{iterations: {iterations}, batch_size: 16, optimizer: momentum, lr: 0.05, warmup_steps: 5, schedule: cosine, augment: true, metric: top1}}";

    private string Recipe()
    {
        var path = Path.Combine(_dir, "tiny_cls.yml");
        File.WriteAllText(path, $$$"""
            name: tiny_cls
            {{{Trained}}}
            stages:
              - prune: {pruned_params: ["*"], pruned_ratios: "flops:0.3", fine_tune: {iterations: 60, lr: 0.01}}
              - quant: {mode: aware, fine_tune: {iterations: 30, lr: 0.001}}
            verify: {baseline: {max_drop: 1.0}, latency_runs: 2, warmup_runs: 1}
            """);
        return path;
    }

    private static (int code, string stderr) Run(params string[] args) => RunCommandTests.Run(args);

    private static RunReport Report(string dir) => RunCommandTests.Report(dir);

    [SkippableFact]
    public void KilledClassificationRunResumesToTheSameReport()
    {
        Requires.FashionMnistData();
        var recipe = Recipe();
        var straight = Path.Combine(_dir, "ref");
        var (code, stderr) = Run("run", recipe, "--out", straight);
        Assert.True(code == 0, stderr);

        // Killed (SIGKILL, no chance to save) in the middle of the prune stage's fine-tune.
        var killed = Path.Combine(_dir, "killed");
        var slim = Path.Combine(AppContext.BaseDirectory, "slim.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { slim, "run", recipe, "--out", killed }) psi.ArgumentList.Add(a);
        using (var p = Process.Start(psi)!)
        {
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var ckpt = Path.Combine(killed, "stages", "01_prune", Trainer.LastName);
            var watch = Stopwatch.StartNew();
            while (!File.Exists(ckpt) && !p.HasExited && watch.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(20);
            Assert.False(p.HasExited, "the run ended before it could be killed");
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(killed, "stages", "01_prune", RecipeRunner.ResultFile)));
        var (resumed, err) = Run("run", recipe, "--out", killed, "--resume");
        Assert.True(resumed == 0, err);

        var a1 = Report(straight).Stages;
        var a2 = Report(killed).Stages;
        Assert.Equal(new[] { "baseline", "prune", "quant", "onnx fp32", "onnx int8" }, a1.Select(s => s.Stage));
        Assert.Equal(a1.Select(s => (s.Stage, s.Gflops, s.Parameters, s.Ap, s.OrtAp)), a2.Select(s => (s.Stage, s.Gflops, s.Parameters, s.Ap, s.OrtAp)));
    }

    [SkippableFact]
    public void TrainAndEvalVerbsTakeAClassificationRecipe()
    {
        Requires.FashionMnistData();
        var recipe = Recipe();
        var outDir = Path.Combine(_dir, "train");
        var (code, stderr) = Run("train", recipe, "--out", outDir, "-o", "train.iterations=10");
        Assert.True(code == 0, stderr);
        var ckpt = Path.Combine(outDir, Trainer.LastName);
        Assert.True(File.Exists(ckpt));
        (code, stderr) = Run("eval", recipe, "--checkpoint", ckpt);
        Assert.True(code == 0, stderr);
        // infer draws detections: a classifier checkpoint is refused with what it is and what is needed.
        var image = Path.Combine(_dir, "one.png");
        new Slim.Data.Image(32, 32, 3, new byte[32 * 32 * 3]).Save(image);
        (code, stderr) = Run("infer", "--checkpoint", ckpt, "--images", image, "--out", Path.Combine(_dir, "infer"));
        Assert.Equal((int)ExitCode.InvalidInput, code);
        Assert.Contains("mobilenet_v1 (classification)", stderr);
        Assert.Contains("a detection model is needed", stderr);
        var exportDir = Path.Combine(_dir, "export");
        (code, stderr) = Run("export", recipe, "--checkpoint", ckpt, "--out", exportDir);
        Assert.True(code == 0, stderr);
        (code, stderr) = Run("verify", recipe, "--fp32", Path.Combine(exportDir, ExportStage.Fp32FileName), "--baseline-ap", "0.1", "--max-drop", "1.0",
            "--out", Path.Combine(_dir, "verify"));
        Assert.True(code == 0, stderr);
    }

    // Post-training quantization that clips at a percentile of |x| (0.99 loses about 20 points of top-1 here, 0.5 all
    // of them), a strict gate, and the fallback to float. The model trains 300 iterations (65 % top-1), not the 60 of
    // Trained: at 28 % no layer alone costs anything measurable on 100 images, so the analysis ranks noise and whether
    // six layers in float repair the model depended on the machine (one did after three, another not after seventeen).
    private string FallbackRecipe(double percentile, double maxDrop, int maxLayers)
    {
        var path = Path.Combine(_dir, $"fallback_{percentile}.yml");
        File.WriteAllText(path, string.Create(System.Globalization.CultureInfo.InvariantCulture, $$"""
            name: tiny_cls_fallback
            {{TrainedFor(300)}}
            stages:
              - quant: {mode: post, algo: hist, percentile: {{percentile}}, calibration_batches: 2}
            verify: {baseline: {max_drop: {{maxDrop}}, on_fail: fallback, max_fallback_layers: {{maxLayers}}}, latency_runs: 2, warmup_runs: 1}
            """));
        return path;
    }

    private static (JsonElement Tries, List<string> Kept) Fallback(string outDir)
    {
        var tries = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "verify", QuantFallbackStage.FileName))).RootElement;
        return (tries, tries.GetProperty("kept_float").EnumerateArray().Select(e => e.GetString()!).ToList());
    }

    [SkippableFact]
    public void AFailingInt8ModelKeepsItsMostCostlyLayersInFloatUntilItPasses()
    {
        Requires.FashionMnistData();
        var outDir = Path.Combine(_dir, "fallback-pass");
        var (code, stderr) = Run("run", FallbackRecipe(0.99, 0.05, 14), "--out", outDir);
        Assert.True(code == 0, stderr);
        var (tries, kept) = Fallback(outDir);
        Assert.True(tries.GetProperty("passed").GetBoolean());
        Assert.True(kept.Count <= 14, $"{kept.Count} layers in float, more than the 14 allowed");
        var steps = tries.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(1, steps.Count), steps.Select(s => s.GetProperty("float_layers").GetArrayLength()));
        Assert.Equal(steps.Count, kept.Count);            // the first try that passed is kept
        Assert.True(kept.Count >= 2, $"passed with {kept.Count} layer(s) in float: the gate was hardly tested");
        // The tries follow the ranking the analysis wrote, most costly first.
        var ranked = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "verify", "quant_analysis", QuantAnalysisStage.JsonName)))
            .RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("layer").GetString()!).ToList();
        Assert.Equal(ranked.Take(kept.Count), kept);
        // The run's INT8 file is the kept try, verified again, and the report says so.
        var r = Report(outDir);
        var int8 = r.Stages.Single(s => s.Stage == "onnx int8");
        Assert.Contains($"{kept.Count} layer(s) float (fallback)", int8.Detail);
        Assert.Equal(steps[^1].GetProperty("metric").GetDouble(), int8.OrtAp!.Value, 9);
        Assert.True(r.Stages[0].Ap - int8.OrtAp!.Value <= 0.05 + 1e-9);
    }

    [SkippableFact]
    public void AFallbackThatCannotPassKeepsTheBestTryAndFailsSayingSo()
    {
        Requires.FashionMnistData();
        var outDir = Path.Combine(_dir, "fallback-fail");
        var (code, stderr) = Run("run", FallbackRecipe(0.5, 0.001, 2), "--out", outDir);
        Assert.Equal((int)ExitCode.VerificationFailed, code);
        var (tries, kept) = Fallback(outDir);
        Assert.False(tries.GetProperty("passed").GetBoolean());
        Assert.Equal(2, tries.GetProperty("steps").GetArrayLength());
        Assert.Contains($"the fallback kept {kept.Count} layer(s) in float ({string.Join(", ", kept)}) and this is the best INT8 model it found", stderr);
        Assert.True(File.Exists(Path.Combine(outDir, "report.json")), "the report of the failed run is kept");
    }
}
