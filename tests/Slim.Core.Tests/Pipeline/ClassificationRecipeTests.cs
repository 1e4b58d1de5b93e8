using Slim.Data;
using Slim.Models;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using Xunit.Abstractions;

namespace Slim.Core.Tests.Pipeline;

public class ClassificationRecipeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-classify-recipe-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Slim.sln")) && Directory.Exists(Path.Combine(d.FullName, "recipes"))) return d.FullName;
        throw new DirectoryNotFoundException($"no Slim.sln with a recipes folder above {AppContext.BaseDirectory}");
    }

    public static IEnumerable<object[]> RecipeFiles() =>
        Directory.EnumerateFiles(Path.Combine(RepositoryRoot(), "recipes"), "*.yml", SearchOption.AllDirectories)
            .Select(f => new object[] { Path.GetRelativePath(RepositoryRoot(), f) }).OrderBy(f => (string)f[0], StringComparer.Ordinal);

    [Theory]
    [MemberData(nameof(RecipeFiles))]
    public void EveryRecipeParses(string relativePath)
    {
        var recipe = RecipeLoader.Load<Recipe>(Path.Combine(RepositoryRoot(), relativePath));
        Assert.True(ModelRegistry.Contains(recipe.Model.Name), $"{relativePath}: unknown model {recipe.Model.Name}");
        Assert.Equal(Path.GetFileNameWithoutExtension(relativePath), recipe.Name);
    }

    [Fact]
    public void TheClassificationRecipesAreThere()
    {
        var dir = Path.Combine(RepositoryRoot(), "recipes", "classification");
        var names = Directory.EnumerateFiles(dir, "*.yml").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(new[]
        {
            "mobilenet_v1_fashion_mnist_prune30.yml", "mobilenet_v1_fashion_mnist_prune50.yml",
            "mobilenet_v2_fashion_mnist_distill_resnet50.yml", "mobilenet_v2_fashion_mnist_quant.yml", "resnet50_fashion_mnist_quant.yml",
        }, names);
        foreach (var file in names)
        {
            var path = Path.Combine(dir, file!);
            var r = RecipeLoader.Load<Recipe>(path);
            Assert.Same(ClassificationFamily.Instance, TaskRegistry.For(r));
            Assert.Equal(DatasetFormat.FashionMnist, r.Dataset.Format);
            Assert.Equal(MetricKind.Top1, r.Train.Metric);
            Assert.Single(r.Stages);
            Assert.True(r.Export.Fp32 && r.Verify.Enabled, $"{file}: every classification recipe exports and verifies in ONNX Runtime");
            var header = File.ReadLines(path).TakeWhile(l => l.StartsWith('#')).ToList();
            Assert.DoesNotContain(header, l => l.Contains("No ONNX export"));
            Assert.Contains(header, l => l.Contains("t10k-images-idx3-ubyte"));
            Assert.Contains(header, l => l.Contains("Time: about"));
            if (r.Stages[0].Prune is { } p)
            {
                Assert.Equal(new[] { "*" }, p.PrunedParams);
                Assert.StartsWith(PruneModel.FlopsRatioPrefix, p.PrunedRatios);
                Assert.Contains(header, l => l.Contains("pruned_params: [\"*\"]"));
            }
        }
    }

    private static Recipe Tiny(string stages, string extra = "") => RecipeLoader.Parse<Recipe>($$"""
        name: tiny_run
        seed: 2
        threads: 1
        model: {name: mobilenet_v1, width: 0.25, input_size: 48}
        dataset: {format: fashion_mnist, root: /usr/share/datasets/fashion-mnist, val_subset: 100, train_subset: 320, workers: 1}
        train: {iterations: 20, batch_size: 16, optimizer: adam, lr: 0.005, warmup_steps: 0, schedule: constant, augment: false, metric: top1}
        {{(stages.Length == 0 ? "stages: []" : "stages:\n" + stages)}}
        {{extra}}
        """);

    [SkippableFact]
    public void OneRunnerTrainsPrunesDistillsQuantizesExportsAndVerifiesAClassifier()
    {
        Requires.FashionMnistData();
        var recipe = Tiny("""
              - prune: {fine_tune: {iterations: 5}}
              - distill: {teacher: baseline, fine_tune: {iterations: 5}}
              - quant: {mode: aware, freeze_bn_at: 0.5, fine_tune: {iterations: 6}}
            """, "verify: {baseline: {max_drop: 1.0}, latency_runs: 2, warmup_runs: 1}");
        var yml = Path.Combine(_dir, "tiny.yml");
        File.WriteAllText(yml, "name: tiny_run\n");
        long live = Tensor.LiveCount;
        var report = new RecipeRunner().Run(recipe, yml, Path.Combine(_dir, "run"), resume: false);
        Assert.Equal(live, Tensor.LiveCount);
        var rows = report.Stages;
        foreach (var r in rows) output.WriteLine($"{r.Stage}: {r.Detail}; top-1 {r.Ap:P1} / ORT {r.OrtAp:P1}, GFLOPs {r.Gflops:F5}, params {r.Parameters}, {r.SizeMiB:F4} MiB, {r.LatencyMs:F3} ms");

        Assert.Equal(new[] { "baseline", "prune", "distill", "quant", "onnx fp32", "onnx int8" }, rows.Select(r => r.Stage));
        Assert.Equal("top-1 accuracy", report.Metric);
        // No pruned_params or pruned_ratios: the classifier family's defaults, every conv uniformly for -30% FLOPs.
        Assert.InRange(rows[1].Gflops!.Value / rows[0].Gflops!.Value, 0.67, 0.705);
        Assert.Contains("-30% FLOPs", rows[1].Detail);
        Assert.Contains("soft_label from baseline", rows[2].Detail);
        Assert.Equal(rows[1].Gflops, rows[3].Gflops);
        // FP32 ONNX is the distilled float model (the quant stage's input); INT8 ONNX is the fake-quantized one.
        Assert.Equal(rows[2].Ap!.Value, rows[4].OrtAp!.Value, 9);
        // 100 test images: one image is a point; the strict 0.5-point check is on 500 images in ClassificationChainTests.
        Assert.True(Math.Abs(rows[5].OrtAp!.Value - rows[3].Ap!.Value) <= 0.02, $"INT8 ORT {rows[5].OrtAp} vs fake-quant {rows[3].Ap}");
        Assert.True(rows[5].OnnxSizeMiB < rows[4].OnnxSizeMiB * 0.5);
        Assert.True(File.Exists(Path.Combine(_dir, "run", "stages", "03_quant", QuantStage.QuantFileName)));
        Assert.Contains("| distill |", File.ReadAllText(Path.Combine(_dir, "run", "report.md")));

        // A second runner over the finished folder skips every stage and gives the same report (latency is measured again).
        var again = new RecipeRunner().Run(recipe, yml, Path.Combine(_dir, "run"), resume: true);
        // Compared as JSON: the stages' figures are dictionaries, which records compare by reference.
        static string WithoutLatency(RunReport r) => (r with
        {
            Stages = r.Stages.Select(s => s with { LatencyMs = null, LatencyP10Ms = null, LatencyP90Ms = null }).ToList(),
        }).ToJson();
        Assert.Equal(WithoutLatency(report), WithoutLatency(again));
        Assert.Equal(report.Stages[1].Figures!["ap_after_prune"], again.Stages[1].Figures!["ap_after_prune"]);
    }

    [SkippableFact]
    public void ClassifierRecipesAreCheckedBeforeAnyWork()
    {
        Requires.FashionMnistData();
        var yml = Path.Combine(_dir, "tiny.yml");
        File.WriteAllText(yml, "name: tiny_run\n");
        void Fails(string stages, string expect, string extra = "")
        {
            var outDir = Path.Combine(_dir, "bad");
            var e = Assert.ThrowsAny<SlimException>(() => new RecipeRunner().Run(Tiny(stages, extra), yml, outDir, resume: false));
            Assert.Contains(expect, e.Message);
            Assert.False(Directory.Exists(outDir), "a refused recipe left a folder behind");
        }
        Fails("  - prune: {pruned_params: [\"*\"], pruned_ratios: \"flops:1.5\"}", "flops:1.5");
        Fails("  - prune: {pruned_params: [\"backbone.nothing*\"], pruned_ratios: \"0.5\"}", "backbone.nothing*");
        Fails("  - distill: {type: split_distill}", "split_distill");
        Fails("  - distill: {pairs: [\"fc:fcc\"]}", "fcc");
        Fails("", "postprocess", "export: {postprocess: true}");
    }

    public static IEnumerable<object[]> ClassificationRecipes() =>
        Directory.EnumerateFiles(Path.Combine(RepositoryRoot(), "recipes", "classification"), "*.yml")
            .Select(f => new object[] { Path.GetFileName(f) }).OrderBy(f => (string)f[0], StringComparer.Ordinal);

    /// <summary>Each shipped classification recipe, its iterations and data cut short, runs every stage through the one runner.</summary>
    [SkippableTheory]
    [MemberData(nameof(ClassificationRecipes))]
    public void EveryClassificationRecipeRunsEveryStageShortened(string file)
    {
        Requires.FashionMnistData();
        var path = Path.Combine(RepositoryRoot(), "recipes", "classification", file);
        var recipe = RecipeLoader.Load<Recipe>(path, new[]
        {
            "train.iterations=6", "train.eval_interval=0", "train.batch_size=16", "dataset.train_subset=96", "dataset.val_subset=48",
            "dataset.workers=1", "verify.baseline.max_drop=1.0", "verify.latency_runs=2", "verify.warmup_runs=1", "model.width=0.25",
        });
        foreach (var stage in recipe.Stages)
        {
            if (stage.Prune is { } p) p.FineTune.Iterations = 3;
            if (stage.Quant is { } q) { q.FineTune.Iterations = 3; q.CalibrationBatches = 2; }
            if (stage.Distill is { } d)
            {
                d.FineTune.Iterations = 3;
                d.TeacherIterations = 3;
                if (d.TeacherModel is { } t) t.Width = 0.25;
            }
        }
        var report = new RecipeRunner().Run(recipe, path, Path.Combine(_dir, Path.GetFileNameWithoutExtension(file)), resume: false);
        foreach (var r in report.Stages) output.WriteLine($"{r.Stage}: {r.Detail}; top-1 {r.Ap:P1} / ORT {r.OrtAp:P1}");
        var kinds = report.Stages.Select(r => r.Stage).ToList();
        Assert.Equal(new[] { "baseline" }.Concat(recipe.Stages.Select(st => st.Kind)), kinds.Take(1 + recipe.Stages.Count));
        Assert.Contains("onnx fp32", kinds);
        Assert.Equal(recipe.Stages.Any(st => st.Quant is not null), kinds.Contains("onnx int8"));
        Assert.All(report.Stages.Where(r => r.Stage.StartsWith("onnx", StringComparison.Ordinal)), r => Assert.True(r.OrtAp is >= 0 and <= 1 && r.LatencyMs > 0));
    }
}
