using System.Diagnostics;
using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Compression.Quantization;
using Slim.Data;
using Slim.Models;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using Slim.Torch.Modules;
using Xunit.Abstractions;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pipeline;

/// <summary>
/// One tiny Fashion-MNIST baseline shared by the classification pipeline tests: MobileNetV1 width
/// 0.25, 32 px (Fashion-MNIST resized from 28; the schema allows 32 at least), one channel, trained 150 iterations of 32 on the first 2000 training images and
/// scored on the first 500 test images. Not trained when the dataset package is not installed.
/// </summary>
public sealed class ClassificationFixture : IDisposable
{
    public const string Yaml = """
        name: tiny_fashion
        seed: 3
        threads: 1
        model: {name: mobilenet_v1, width: 0.25, input_size: 32}
        dataset: {format: fashion_mnist, root: /usr/share/datasets/fashion-mnist, val_subset: 500, workers: 1}
        train:
          iterations: 150
          batch_size: 32
          optimizer: momentum
          lr: 0.1
          schedule: cosine
          warmup_steps: 10
          weight_decay: 0.0001
          augment: false
          metric: top1
        """;

    public static bool Available => FashionMnist.IsAvailable(FashionMnist.DefaultDirectory, FashionMnistSplit.Train)
        && FashionMnist.IsAvailable(FashionMnist.DefaultDirectory, FashionMnistSplit.Test);

    public ClassificationFixture()
    {
        Dir = Directory.CreateTempSubdirectory("slim-classify-").FullName;
        Recipe = RecipeLoader.Parse<Recipe>(Yaml, "tiny_fashion.yml");
        if (!Available) return;
        // One thread: on a shared, loaded machine libtorch's OpenMP workers spin and run ~30x slower with two.
        set_num_threads(1);
        Task = ClassificationTask.Create(Recipe, new ClassificationTaskOptions { TrainSubset = 2000 });
        var watch = Stopwatch.StartNew();
        Baseline = ClassificationPipeline.Train(Recipe, Task, Path.Combine(Dir, "baseline"));
        TrainSeconds = watch.Elapsed.TotalSeconds;
    }

    public string Dir { get; }
    public Recipe Recipe { get; }
    public ClassificationTask? Task { get; }
    public ClassificationRun? Baseline { get; }
    public double TrainSeconds { get; }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

public class ClassificationPipelineTests(ClassificationFixture fixture, ITestOutputHelper output) : IClassFixture<ClassificationFixture>
{
    private bool Skip()
    {
        if (ClassificationFixture.Available) return false;
        output.WriteLine($"skipped: Fashion-MNIST is not installed in {FashionMnist.DefaultDirectory} (package dataset-fashion-mnist)");
        return true;
    }

    private static Tensor Logits(ImageClassifier model, Tensor x)
    {
        using var _ = no_grad();
        model.eval();
        return model.call(x);
    }

    [Fact]
    public void TinyBaselineIsClearlyBetterThanChance()
    {
        if (Skip()) return;
        var b = fixture.Baseline!;
        output.WriteLine($"baseline top-1 {b.Top1:P2} on 500 test images after 150 it ({fixture.TrainSeconds:F1} s), {b.Figures}");
        // Chance is 10%; a working loop on 2000 images gets well past 60%.
        Assert.True(b.Top1 > 0.6, $"baseline top-1 {b.Top1}");
        Assert.Equal("baseline", b.Stage);
        Assert.Equal(1, b.Options.InChannels);
        Assert.True(File.Exists(b.Checkpoint));
        // The checkpoint alone rebuilds the model and gives the same accuracy.
        var (model, arch, options) = ClassificationPipeline.Load(b.Checkpoint);
        using (model)
        {
            Assert.Equal("mobilenet_v1", arch);
            Assert.Equal(b.Options, options);
            Assert.Equal(b.Top1, fixture.Task!.Evaluate(model.call));
        }
    }

    [Theory]
    [InlineData(0.3)]
    [InlineData(0.5)]
    public void UniformPruningHitsTheFlopsTargetAndReloads(double target)
    {
        if (Skip()) return;
        var b = fixture.Baseline!;
        var dir = Path.Combine(fixture.Dir, $"prune{target * 100:0}");
        var watch = Stopwatch.StartNew();
        var run = ClassificationPipeline.UniformPrune(fixture.Recipe, fixture.Task!, b.Checkpoint, target,
            new FineTuneSection { Iterations = 60, Lr = 0.03, WarmupSteps = 0 }, dir);
        output.WriteLine($"-{target:P0}: GFLOPs {b.Figures.Gflops:F5} → {run.Figures.Gflops:F5} ({run.Figures.Gflops / b.Figures.Gflops - 1:P2}), " +
            $"params {b.Figures.Parameters} → {run.Figures.Parameters}; top-1 {b.Top1:P2} → {run.Extra["top1_before_fine_tune"]:P2} pruned → {run.Top1:P2} after 60 it " +
            $"({watch.Elapsed.TotalSeconds:F1} s); {run.Detail}");

        double reduction = 1 - run.Figures.Gflops / b.Figures.Gflops;
        Assert.InRange(reduction, target - 0.005, target + 0.03);
        Assert.True(run.Figures.Parameters < b.Figures.Parameters);
        Assert.NotEmpty(run.Options.ChannelOverrides);
        // Uniform pruning of a width-0.25 net costs most of its accuracy; 60 iterations of fine-tuning bring it back near the baseline.
        Assert.True(run.Top1 > 0.55 && run.Top1 > run.Extra["top1_before_fine_tune"] + 0.2,
            $"pruned top-1 {run.Extra["top1_before_fine_tune"]}, fine-tuned {run.Top1}");

        // The pruned checkpoint rebuilds from its metadata alone and computes exactly what the pruned model computed.
        using var scope = NewDisposeScope();
        var (reloaded, _, options) = ClassificationPipeline.Load(run.Checkpoint);
        using (reloaded)
        {
            Assert.Equal(run.Options, options);
            Assert.Equal(run.Figures, ClassificationPipeline.Measure(reloaded, options));
            Assert.Equal(run.Top1, fixture.Task!.Evaluate(reloaded.call));
            var conv = (Conv2d)reloaded.get_submodule("backbone.conv6.pw.conv");
            Assert.Equal(run.Options.ChannelOverrides["backbone.conv6.pw.conv"], conv.out_channels);
        }

        // pruned.ckpt (before fine-tuning) rebuilds to exactly the model pruned in memory: prune the baseline here the same way.
        var x = fixture.Task!.SampleInput();
        var (inMemory, _, _) = ClassificationPipeline.Load(b.Checkpoint);
        var (fromDisk, _, _) = ClassificationPipeline.Load(Path.Combine(dir, ClassificationPipeline.PrunedName));
        using (inMemory)
        using (fromDisk)
        {
            var graph = ChannelDependencyGraph.Build(inMemory, x);
            var plan = new Pruner(graph, new L1NormImportance()).Plan(inMemory, UniformPruning.Search(graph, target).Targets);
            Pruner.Apply(inMemory, plan);
            Assert.True(Logits(inMemory, x).equal(Logits(fromDisk, x)), "the reloaded pruned model computes something else");
            Assert.Equal(run.Extra["top1_before_fine_tune"], fixture.Task!.Evaluate(fromDisk.call));
        }
    }

    [Theory]
    [InlineData("mobilenet_v2")]
    [InlineData("resnet50")]
    public void ResidualNetworksPruneToTheTargetAndReload(string name)
    {
        if (Skip()) return;
        // Residual adds couple channel groups across blocks; the overrides must rebuild exactly those widths.
        var recipe = RecipeLoader.Parse<Recipe>(ClassificationFixture.Yaml.Replace("name: mobilenet_v1", $"name: {name}"));
        var task = ClassificationTask.Create(recipe, new ClassificationTaskOptions { TrainSubset = 64, TestSubset = 32 });
        var dir = Path.Combine(fixture.Dir, name);
        var untrained = ClassificationPipeline.Train(recipe, task, Path.Combine(dir, "baseline"), iterations: 0);
        var run = ClassificationPipeline.UniformPrune(recipe, task, untrained.Checkpoint, 0.5, new FineTuneSection(), Path.Combine(dir, "prune"));
        output.WriteLine($"{name}: GFLOPs {untrained.Figures.Gflops:F5} → {run.Figures.Gflops:F5}; {run.Detail}; {run.Options.ChannelOverrides.Count} overrides");
        Assert.InRange(1 - run.Figures.Gflops / untrained.Figures.Gflops, 0.495, 0.53);
        Assert.Equal(Path.Combine(dir, "prune", ClassificationPipeline.PrunedName), run.Checkpoint);
        using var scope = NewDisposeScope();
        var (model, _, options) = ClassificationPipeline.Load(run.Checkpoint);
        using (model)
        {
            Assert.Equal(run.Options, options);
            Assert.Equal(run.Top1, task.Evaluate(model.call));
        }
    }

    [Fact]
    public void PostTrainingQuantizationKeepsTopOne()
    {
        if (Skip()) return;
        var b = fixture.Baseline!;
        var dir = Path.Combine(fixture.Dir, "ptq");
        var watch = Stopwatch.StartNew();
        var run = ClassificationPipeline.Quantize(fixture.Recipe, fixture.Task!, b.Checkpoint,
            new QuantSection { Mode = QuantMode.Post, Algo = CalibrationAlgo.Hist, CalibrationBatches = 8 }, dir);
        output.WriteLine($"PTQ hist: top-1 {b.Top1:P2} → {run.Top1:P2} ({watch.Elapsed.TotalSeconds:F1} s); size {b.Figures.SizeMiB:F4} → {run.Figures.SizeMiB:F4} MiB; {run.Detail}");
        Assert.Equal(b.Top1, run.Extra["top1_float"]);
        Assert.True(Math.Abs(run.Top1 - b.Top1) <= 0.03, $"float {b.Top1}, PTQ {run.Top1}");
        // 27 convs + fc at width 0.25.
        Assert.Equal(28, run.Extra["quantized_layers"]);
        Assert.Equal(b.Figures.Gflops, run.Figures.Gflops);
        Assert.InRange(run.Figures.SizeMiB, b.Figures.SizeMiB * 0.2, b.Figures.SizeMiB * 0.4);
        Assert.True(File.Exists(run.QuantizationFile));
        Assert.Contains("\"input_scale\"", File.ReadAllText(run.QuantizationFile!));

        // The float twin (BN folded into the weights) computes what the float baseline computes.
        using var scope = NewDisposeScope();
        var x = fixture.Task!.SampleInput();
        var (twin, _, _) = ClassificationPipeline.Load(run.Checkpoint);
        var (baseline, _, _) = ClassificationPipeline.Load(b.Checkpoint);
        using (twin)
        using (baseline)
        {
            var bn = (BatchNorm2d)twin.get_submodule("backbone.conv1.bn");
            Assert.True(bn.weight.eq(1).all().item<bool>() && bn.running_mean.eq(0).all().item<bool>(), "the folded BN of the twin is not the identity");
            var diff = (Logits(twin, x) - Logits(baseline, x)).abs().max().item<float>();
            Assert.True(diff < 1e-3, $"twin vs float logits differ by {diff}");
        }
    }
}
