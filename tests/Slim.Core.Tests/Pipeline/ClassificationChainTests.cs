using System.Diagnostics;
using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Compression.Quantization;
using Slim.Data;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using Slim.Torch.Modules;
using Xunit.Abstractions;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pipeline;

/// <summary>
/// One tiny Fashion-MNIST baseline shared by the classification tests of the one pipeline: MobileNetV1
/// width 0.25, 48 px (at 32 px ONNX Runtime 1.31's int8 depthwise kernel on AVX2 miscomputes the 8-channel
/// 16×16 conv2 maps of this width; see the closing notes), one channel, trained 150 iterations of 32 on the first 2000 training images and
/// scored on the first 500 test images, through <see cref="TrainStage"/> like any family's baseline.
/// </summary>
public sealed class ClassificationFixture : IDisposable
{
    public const string Yaml = """
        name: tiny_fashion
        seed: 3
        threads: 1
        model: {name: mobilenet_v1, width: 0.25, input_size: 48}
        dataset: {format: fashion_mnist, root: /usr/share/datasets/fashion-mnist, val_subset: 500, train_subset: 2000, workers: 1}
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

    public ClassificationFixture()
    {
        Dir = Directory.CreateTempSubdirectory("slim-classify-").FullName;
        Recipe = RecipeLoader.Parse<Recipe>(Yaml, "tiny_fashion.yml");
        // Without the dataset nothing is trained; every test then reports itself skipped (Requires.FashionMnistData).
        if (Requires.FashionMnistAvailable)
        {
            // One thread: on a shared, loaded machine libtorch's OpenMP workers spin and run ~30x slower with two.
            set_num_threads(1);
            Task = (ClassificationTask)TaskRegistry.CreateTask(Recipe);
            var watch = Stopwatch.StartNew();
            Baseline = TrainStage.Run(Task, Path.Combine(Dir, "baseline"), false, NullProgress.Instance, default);
            TrainSeconds = watch.Elapsed.TotalSeconds;
        }
    }

    public string Dir { get; }
    public Recipe Recipe { get; }
    public ClassificationTask? Task { get; }
    public TrainRun? Baseline { get; }
    public double TrainSeconds { get; }

    public StageContext Context(string name) => new(Recipe, Task!, Path.Combine(Dir, name), false, NullProgress.Instance, default);

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

/// <summary>Classification through the stages every family shares: train, prune, distill, quant, export, verify.</summary>
public class ClassificationChainTests(ClassificationFixture fixture, ITestOutputHelper output) : IClassFixture<ClassificationFixture>
{
    private static Tensor Logits(torch.nn.Module model, Tensor x)
    {
        using var _ = no_grad();
        model.eval();
        return ((torch.nn.Module<Tensor, Tensor>)model).call(x);
    }

    private StageContext Ctx(string name)
    {
        Requires.FashionMnistData();
        var ctx = fixture.Context(name);
        Directory.CreateDirectory(ctx.StageDir);
        return ctx;
    }

    [SkippableFact]
    public void TinyBaselineIsClearlyBetterThanChance()
    {
        Ctx("none");
        var b = fixture.Baseline!;
        output.WriteLine($"baseline top-1 {b.Score.Primary:P2} on 500 test images after 150 it ({fixture.TrainSeconds:F1} s)");
        // Chance is 10%; a working loop on 2000 images gets well past 60%.
        Assert.True(b.Score.Primary > 0.6, $"baseline top-1 {b.Score.Primary}");
        Assert.Equal(1, b.Options.InChannels);
        Assert.IsType<ClassificationScore>(b.Score);
        Assert.Contains(b.Score.Tables[0].Rows, r => r[1] == "Trouser");
        // The checkpoint alone rebuilds the model and gives the same accuracy.
        using var loaded = ModelCheckpoint.Load(b.Checkpoint);
        Assert.Equal("mobilenet_v1", loaded.Architecture);
        Assert.Same(ClassificationFamily.Instance, loaded.Family);
        Assert.Equal(b.Options, loaded.Options);
        Assert.Equal(b.Score.Primary, ((ITask)fixture.Task!).Evaluate(loaded.Model).Primary);
    }

    [SkippableTheory]
    [InlineData(0.3)]
    [InlineData(0.5)]
    public void UniformPruningHitsTheFlopsTargetAndReloads(double target)
    {
        var ctx = Ctx($"prune{target * 100:0}");
        var b = fixture.Baseline!;
        var watch = Stopwatch.StartNew();
        var section = new PruneSection
        {
            PrunedParams = new() { "*" },
            PrunedRatios = FormattableString.Invariant($"flops:{target}"),
            FineTune = new FineTuneSection { Iterations = 60, Lr = 0.03, WarmupSteps = 0 },
        };
        var run = PruneStage.Run(ctx, new StageInput(b.Checkpoint, b.Checkpoint, b.Score.Primary), section);
        double before = run.Extra["gflops_before"], after = run.Extra["gflops_after"];
        output.WriteLine($"-{target:P0}: GFLOPs {before:F5} → {after:F5}; top-1 {b.Score.Primary:P2} → {run.Extra["ap_after_prune"]:P2} pruned → {run.Ap:P2} after 60 it " +
            $"({watch.Elapsed.TotalSeconds:F1} s); {run.Detail}");

        Assert.InRange(1 - after / before, target - 0.005, target + 0.03);
        Assert.True(run.Extra["params_after"] < run.Extra["params_before"]);
        Assert.Contains($"-{target * 100:0}% FLOPs", run.Detail);
        // Uniform pruning of a width-0.25 net costs most of its accuracy; 60 iterations of fine-tuning bring much of it back.
        Assert.True(run.Ap > 0.45 && run.Ap > run.Extra["ap_after_prune"] + 0.2, $"pruned top-1 {run.Extra["ap_after_prune"]}, fine-tuned {run.Ap}");

        // The pruned checkpoint rebuilds from its metadata alone and computes what the pruned model computed.
        using var scope = NewDisposeScope();
        using (var reloaded = ModelCheckpoint.Load(run.Checkpoint))
        {
            Assert.NotEmpty(reloaded.Options.ChannelOverrides);
            Assert.Equal(after, PruneModel.Stats(reloaded.Model, reloaded.Options).PaddleGFlops, 9);
            Assert.Equal(run.Ap, ((ITask)fixture.Task!).Evaluate(reloaded.Model).Primary);
            var conv = (Conv2d)reloaded.Model.get_submodule("backbone.conv6.pw.conv");
            Assert.Equal(reloaded.Options.ChannelOverrides["backbone.conv6.pw.conv"], conv.out_channels);
        }

        // pruned.ckpt (before fine-tuning) rebuilds to exactly the model pruned in memory: prune the baseline here the same way.
        var x = fixture.Task!.SampleInput();
        using var inMemory = ModelCheckpoint.Load(b.Checkpoint);
        using var fromDisk = ModelCheckpoint.Load(Path.Combine(ctx.StageDir, PruneStage.PrunedName));
        var graph = ChannelDependencyGraph.Build((torch.nn.Module<Tensor, Tensor>)inMemory.Model, x);
        var plan = new Pruner(graph, new L1NormImportance()).Plan(inMemory.Model, UniformPruning.Search(graph, target).Targets);
        Pruner.Apply(inMemory.Model, plan);
        Assert.True(Logits(inMemory.Model, x).equal(Logits(fromDisk.Model, x)), "the reloaded pruned model computes something else");
        Assert.Equal(run.Extra["ap_after_prune"], ((ITask)fixture.Task!).Evaluate(fromDisk.Model).Primary);
    }

    [SkippableTheory]
    [InlineData("mobilenet_v2")]
    [InlineData("mobilenet_v3_small")]
    [InlineData("resnet50")]
    public void ResidualNetworksPruneToTheTargetAndReload(string name)
    {
        Ctx("none");
        // Residual adds couple channel groups across blocks; the overrides must rebuild exactly those widths.
        var recipe = RecipeLoader.Parse<Recipe>(ClassificationFixture.Yaml.Replace("name: mobilenet_v1", $"name: {name}")
            .Replace("val_subset: 500, train_subset: 2000", "val_subset: 32, train_subset: 64"));
        var task = TaskRegistry.CreateTask(recipe);
        var dir = Path.Combine(fixture.Dir, name);
        var untrained = TrainStage.Run(task, Path.Combine(dir, "baseline"), false, NullProgress.Instance, default, iterations: 0);
        var ctx = new StageContext(recipe, task, Path.Combine(dir, "prune"), false, NullProgress.Instance, default);
        Directory.CreateDirectory(ctx.StageDir);
        var run = PruneStage.Run(ctx, new StageInput(untrained.Checkpoint, untrained.Checkpoint, 0),
            new PruneSection { PrunedParams = new() { "*" }, PrunedRatios = "flops:0.5", FineTune = new FineTuneSection { Iterations = 0 } });
        output.WriteLine($"{name}: GFLOPs {run.Extra["gflops_before"]:F5} → {run.Extra["gflops_after"]:F5}; {run.Detail}");
        Assert.InRange(1 - run.Extra["gflops_after"] / run.Extra["gflops_before"], 0.495, 0.53);
        using var scope = NewDisposeScope();
        using var model = ModelCheckpoint.Load(run.Checkpoint);
        Assert.Equal(run.Ap, task.Evaluate(model.Model).Primary);
    }

    [SkippableFact]
    public void PostTrainingQuantizationKeepsTopOneAndExportsToOnnxRuntime()
    {
        var ctx = Ctx("ptq");
        var b = fixture.Baseline!;
        var watch = Stopwatch.StartNew();
        var run = QuantStage.Run(ctx, new StageInput(b.Checkpoint, b.Checkpoint, b.Score.Primary),
            new QuantSection { Mode = QuantMode.Post, Algo = CalibrationAlgo.Hist, CalibrationBatches = 8 });
        output.WriteLine($"PTQ hist: top-1 {b.Score.Primary:P2} → {run.Ap:P2} ({watch.Elapsed.TotalSeconds:F1} s); {run.Detail}");
        Assert.Equal(b.Score.Primary, run.Extra["ap_before"]);
        Assert.True(Math.Abs(run.Ap - b.Score.Primary) <= 0.03, $"float {b.Score.Primary}, PTQ {run.Ap}");
        // 27 convs + fc at width 0.25.
        Assert.Equal(28, run.Extra["quantized_layers"]);

        // The float twin (BN folded into the weights) computes what the float baseline computes.
        using (var scope = NewDisposeScope())
        {
            var x = fixture.Task!.SampleInput();
            using var twin = ModelCheckpoint.Load(run.Checkpoint);
            using var baseline = ModelCheckpoint.Load(b.Checkpoint);
            var bn = (BatchNorm2d)twin.Model.get_submodule("backbone.conv1.bn");
            Assert.True(bn.weight.eq(1).all().item<bool>() && bn.running_mean.eq(0).all().item<bool>(), "the folded BN of the twin is not the identity");
            var diff = (Logits(twin.Model, x) - Logits(baseline.Model, x)).abs().max().item<float>();
            Assert.True(diff < 1e-3, $"twin vs float logits differ by {diff}");
        }

        // Export both models and score them in ONNX Runtime: FP32 equals libtorch, INT8 is within 0.5 points of fake-quant.
        var exportCtx = Ctx("ptq-export");
        var specs = QuantStage.ReadQuantizationFile(run.QuantizationFile!);
        var exported = ExportStage.Run(exportCtx, b.Checkpoint, run.Checkpoint, specs, new ExportSection());
        var fp32 = fixture.Task!.EvaluateOnnx(exported.Fp32Path!, 1);
        var int8 = fixture.Task!.EvaluateOnnx(exported.Int8Path!, 1);
        output.WriteLine($"ORT: FP32 {fp32.Primary:P2} (libtorch {b.Score.Primary:P2}), INT8 {int8.Primary:P2} (fake-quant {run.Ap:P2})");
        Assert.Equal(b.Score.Primary, fp32.Primary, 9);
        Assert.True(Math.Abs(int8.Primary - run.Ap) <= 0.005, $"INT8 in ONNX Runtime {int8.Primary} vs fake-quant {run.Ap}");
        Assert.True(new FileInfo(exported.Int8Path!).Length < new FileInfo(exported.Fp32Path!).Length * 0.5);
        var proto = Slim.Export.OnnxExporter.Load(exported.Fp32Path!);
        Assert.Equal(new[] { ClassificationFamily.OutputName }, proto.Graph.Output.Select(o => o.Name));
        Assert.Contains(proto.MetadataProps, p => p.Key == "task" && p.Value == "classification");

        // Verification in ONNX Runtime against the baseline, as the runner does it.
        var verified = VerifyStage.Run(Ctx("ptq-verify"), exported, new VerifySection { LatencyRuns = 3, WarmupRuns = 1 }, b.Score.Primary);
        Assert.True(verified.Passed, verified.FailureMessage);
        Assert.Equal(2, verified.Models.Count);
        Assert.All(verified.Models, m => Assert.True(m.LatencyMs > 0));
    }

    [SkippableFact]
    public void SoftLabelDistillationFromAStrongerTeacherBeatsThePlainFineTune()
    {
        Ctx("none");
        var dir = Path.Combine(fixture.Dir, "kd");
        // The teacher: twice as wide, trained longer on 4000 images.
        var teacherRecipe = RecipeLoader.Parse<Recipe>(ClassificationFixture.Yaml.Replace("train_subset: 2000", "train_subset: 4000"));
        var teacher = TrainStage.Run(TaskRegistry.CreateTask(teacherRecipe), Path.Combine(dir, "teacher"), false, NullProgress.Instance, default,
            model: new ModelSection { Name = "mobilenet_v1", Width = 0.5, InputSize = 48 }, iterations: 400);
        // The student sees only 128 images: trained alone it overfits them; the teacher's soft labels carry what the other images taught.
        var recipe = RecipeLoader.Parse<Recipe>(ClassificationFixture.Yaml.Replace("train_subset: 2000", "train_subset: 128"));
        var task = TaskRegistry.CreateTask(recipe);
        var student = TrainStage.Run(task, Path.Combine(dir, "student"), false, NullProgress.Instance, default, iterations: 0);
        double Distilled(double weight)
        {
            var section = new DistillSection
            {
                Teacher = teacher.Checkpoint,
                Weight = weight,
                FineTune = new FineTuneSection { Iterations = 150, Lr = 0.05, WarmupSteps = 10 },
            };
            var ctx = new StageContext(recipe, task, Path.Combine(dir, $"w{weight}"), false, NullProgress.Instance, default);
            Directory.CreateDirectory(ctx.StageDir);
            return DistillStage.Run(ctx, new StageInput(student.Checkpoint, student.Checkpoint, 0), section).Ap;
        }
        double distilled = Distilled(1.0), plain = Distilled(0.0);
        output.WriteLine($"teacher {teacher.Score.Primary:P2}; student on 128 images: plain {plain:P2}, soft_label {distilled:P2}");
        Assert.True(distilled >= plain + MarginKd, $"soft_label distillation {distilled} does not beat the plain fine-tune {plain} by {MarginKd}");
    }

    private const double MarginKd = 0.03;
}
