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
            "mobilenet_v2_fashion_mnist_quant.yml", "resnet50_fashion_mnist_quant.yml",
        }, names);
        foreach (var file in names)
        {
            var path = Path.Combine(dir, file!);
            var r = RecipeLoader.Load<Recipe>(path);
            Assert.Equal(ModelTask.Classification, ModelRegistry.TaskOf(r.Model.Name));
            Assert.Equal(DatasetFormat.FashionMnist, r.Dataset.Format);
            Assert.Equal(MetricKind.Top1, r.Train.Metric);
            Assert.Single(r.Stages);
            var header = File.ReadLines(path).TakeWhile(l => l.StartsWith('#')).ToList();
            Assert.Contains(header, l => l.Contains("t10k-images-idx3-ubyte"));
            Assert.Contains(header, l => l.Contains("Time: about"));
            if (r.Stages[0].Prune is { } p)
            {
                Assert.Equal(new[] { "*" }, p.PrunedParams);
                Assert.StartsWith(ClassificationPipeline.FlopsRatioPrefix, p.PrunedRatios);
                Assert.Contains(header, l => l.Contains("pruned_params: [\"*\"]"));
            }
        }
    }

    private Recipe Tiny(string stages) => RecipeLoader.Parse<Recipe>($$"""
        name: tiny_run
        seed: 2
        threads: 1
        model: {name: mobilenet_v1, width: 0.25, input_size: 32}
        dataset: {format: fashion_mnist, root: /usr/share/datasets/fashion-mnist, val_subset: 100, workers: 1}
        train: {iterations: 20, batch_size: 16, optimizer: adam, lr: 0.005, warmup_steps: 0, schedule: constant, augment: false, metric: top1}
        {{(stages.Length == 0 ? "stages: []" : "stages:\n" + stages)}}
        """);

    [Fact]
    public void RunRecipeTrainsPrunesAndQuantizesAndWritesTheReport()
    {
        if (!ClassificationFixture.Available)
        {
            output.WriteLine($"skipped: Fashion-MNIST is not installed in {FashionMnist.DefaultDirectory}");
            return;
        }
        var recipe = Tiny("""
              - prune: {pruned_params: ["*"], pruned_ratios: "flops:0.5", fine_tune: {iterations: 5}}
              - quant: {mode: aware, freeze_bn_at: 0.5, fine_tune: {iterations: 6}}
            """);
        long live = Tensor.LiveCount;
        var rows = ClassificationPipeline.RunRecipe(recipe, _dir, NullProgress.Instance, default, new ClassificationTaskOptions { TrainSubset = 320 });
        Assert.Equal(live, Tensor.LiveCount);
        foreach (var r in rows) output.WriteLine($"{r.Stage}: {r.Detail}; top-1 {r.Ap:P1}, GFLOPs {r.Gflops:F5}, params {r.Parameters}, {r.SizeMiB:F4} MiB");

        Assert.Equal(new[] { "baseline", "prune", "quant" }, rows.Select(r => r.Stage));
        Assert.InRange(rows[1].Gflops!.Value / rows[0].Gflops!.Value, 0.47, 0.505);
        Assert.Equal(rows[1].Gflops, rows[2].Gflops);
        Assert.Equal(rows[1].Parameters, rows[2].Parameters);
        Assert.True(rows[2].SizeMiB < rows[1].SizeMiB * 0.4, "INT8 weights should take about a quarter of the float size");
        Assert.All(rows, r => Assert.InRange(r.Ap!.Value, 0, 1));
        Assert.All(rows, r => Assert.True(File.Exists(r.Checkpoint), r.Checkpoint));
        Assert.StartsWith(Path.Combine(_dir, "01_prune"), rows[1].Checkpoint);
        Assert.Equal(Path.Combine(_dir, "02_quant", ClassificationPipeline.QuantizedName), rows[2].Checkpoint);
        Assert.True(File.Exists(Path.Combine(_dir, "02_quant", ClassificationPipeline.QuantizationFileName)));
        // Classifiers write the detection quant stage's format, so one reader (and `slim export`) serves both.
        var specs = QuantStage.ReadQuantizationFile(Path.Combine(_dir, "02_quant", ClassificationPipeline.QuantizationFileName));
        Assert.NotEmpty(specs);
        Assert.All(specs.Values, q => Assert.True(q.InputScale > 0 && q.WeightScales.All(w => w > 0), q.ModulePath));

        // The quant stage started from the pruned model: its twin has the pruned widths.
        var (twin, _, options) = ClassificationPipeline.Load(rows[2].Checkpoint);
        using (twin) Assert.Equal(ClassificationPipeline.Load(rows[1].Checkpoint).Options, options);

        var report = RunReport.FromJson(File.ReadAllText(Path.Combine(_dir, "report.json")));
        Assert.Equal(rows.Select(r => r.Stage), report.Stages.Select(s => s.Stage));
        Assert.Equal("top-1 accuracy", report.Metric);
        Assert.Contains("| prune |", File.ReadAllText(Path.Combine(_dir, "report.md")));
    }

    [Fact]
    public void UnsupportedStagesFailWithTheKeyToChange()
    {
        var distill = Tiny("  - distill: {type: l2_distill}");
        Assert.Contains("stages[0]", Assert.Throws<SlimException>(() =>
            ClassificationPipeline.RunRecipe(distill, _dir, NullProgress.Instance, default)).Message);
        if (!ClassificationFixture.Available) return;

        var task = ClassificationTask.Create(Tiny(""), new ClassificationTaskOptions { TrainSubset = 32 });
        var baseline = ClassificationPipeline.Train(Tiny(""), task, Path.Combine(_dir, "b"), iterations: 0);
        var e = Assert.Throws<SlimException>(() => ClassificationPipeline.Prune(Tiny(""), task, baseline.Checkpoint,
            new PruneSection { PrunedParams = new() { "backbone.*" }, PrunedRatios = "flops:0.3" }, Path.Combine(_dir, "p")));
        Assert.Contains("pruned_params", e.Message);
        Assert.Contains("[\"*\"]", e.Message);
        var bad = Assert.Throws<SlimException>(() => ClassificationPipeline.Prune(Tiny(""), task, baseline.Checkpoint,
            new PruneSection { PrunedParams = new() { "*" }, PrunedRatios = "flops:1.5" }, Path.Combine(_dir, "p")));
        Assert.Contains("flops:1.5", bad.Message);

        // Explicit parameters and ratios work as in detection recipes.
        var explicitRun = ClassificationPipeline.Prune(Tiny(""), task, baseline.Checkpoint,
            new PruneSection { PrunedParams = new() { "backbone.conv5_*.pw.conv.weights" }, PrunedRatios = "0.5" }, Path.Combine(_dir, "e"));
        Assert.Equal(64, explicitRun.Options.ChannelOverrides["backbone.conv5_1.pw.conv"]);
        Assert.DoesNotContain("backbone.conv6.pw.conv", explicitRun.Options.ChannelOverrides.Keys);
    }
}
