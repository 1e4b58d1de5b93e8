using Slim.Compression.Distillation;
using Slim.Compression.Pruning;
using Slim.Core.Tests.Export;
using Slim.Data;
using Slim.Export;
using Slim.Models;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Tasks.Segmentation;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Tasks;

/// <summary>One generated sample set with label maps (48 images at 64 px), shared by the segmentation task tests.</summary>
public sealed class SegmentationData : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("slim-seg-task-").FullName;

    public string Root => Path.Combine(Dir, "data");

    public Recipe Recipe(string extra = "", string model = "fast_scnn", int valSubset = 0) => RecipeLoader.Parse<Recipe>($$"""
        name: seg_test
        seed: 3
        threads: 1
        model: {name: {{model}}, input_size: 64}
        dataset: {format: synthetic, root: {{Root}}, val_subset: {{valSubset}}, workers: 1, generate: {train_images: 40, val_images: 8, image_size: 64, seed: 2, min_objects: 1, max_objects: 2} }
        train: {batch_size: 4, metric: miou, augment: true}
        {{extra}}
        """);

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

/// <summary>The segmentation family on the task abstraction: data, loss, mIoU in libtorch and ONNX Runtime, export, pruning defaults.</summary>
public class SegmentationTaskTests(SegmentationData data) : IClassFixture<SegmentationData>
{
    private SegmentationTask Task(int valSubset = 0) => (SegmentationTask)TaskRegistry.CreateTask(data.Recipe(valSubset: valSubset));

    [Fact]
    public void GeneratesTheSampleDataWithLabelMapsAndNamesBackgroundFirst()
    {
        var task = Task();
        Assert.Same(SegmentationFamily.Instance, task.Family);
        Assert.Equal(40, task.TrainImageCount);
        Assert.Equal(8, task.ValImageCount);
        Assert.Equal("background", task.ClassNames[0]);
        Assert.Equal(task.ClassNames.Count, task.NumClasses);
        Assert.Equal(48, Directory.EnumerateFiles(Path.Combine(data.Root, "segmentation", "labels"), "*.png").Count());
        Assert.Equal("mIoU", task.MetricName);
        Assert.Equal(3, task.WithValidationLimit(3).ValImageCount);
    }

    [Fact]
    public void DataGeneratedWithOtherSettingsIsRefusedNotUsedSilently()
    {
        Task();
        var other = RecipeLoader.Parse<Recipe>($$"""
            model: {name: fast_scnn, input_size: 64}
            dataset: {format: synthetic, root: {{data.Root}}, generate: {train_images: 40, val_images: 8, image_size: 64, seed: 9, min_objects: 1, max_objects: 2} }
            train: {metric: miou}
            """);
        var e = Assert.Throws<SlimException>(() => TaskRegistry.CreateTask(other));
        Assert.Contains("seed 2 there, 9 asked", e.Message);
        Assert.Contains("dataset.generate", e.Message);
    }

    [Fact]
    public void DetectionDataInTheRootIsRefusedNotOverwritten()
    {
        var root = Path.Combine(data.Dir, "detection-only");
        Directory.CreateDirectory(Path.Combine(root, "coco"));
        File.WriteAllText(Path.Combine(root, "coco", "keep.txt"), "x");
        var recipe = RecipeLoader.Parse<Recipe>($$"""
            model: {name: fast_scnn, input_size: 64}
            dataset: {format: synthetic, root: {{root}}}
            train: {metric: miou}
            """);
        var e = Assert.Throws<SlimException>(() => TaskRegistry.CreateTask(recipe));
        Assert.Contains("without label maps", e.Message);
        Assert.True(File.Exists(Path.Combine(root, "coco", "keep.txt")));
    }

    [Fact]
    public void WrongModelsFormatsAndMetricsAreRefusedByName()
    {
        Assert.Contains("not a segmenter", Assert.Throws<SlimException>(() => SegmentationTask.Create(data.Recipe(model: "mobilenet_v1"))).Message);
        var coco = RecipeLoader.Parse<Recipe>("model: {name: fast_scnn, input_size: 64}\ndataset: {format: coco}\ntrain: {metric: miou}");
        Assert.Contains("cityscapes, segmentation_list or synthetic", Assert.Throws<SlimException>(() => TaskRegistry.CreateTask(coco)).Message);
        var top1 = RecipeLoader.Parse<Recipe>("model: {name: fast_scnn, input_size: 64}\ntrain: {metric: top1}");
        Assert.Contains("miou", Assert.Throws<SlimException>(() => TaskRegistry.CreateTask(top1)).Message);
        var detectorMiou = RecipeLoader.Parse<Recipe>("model: {name: yolov3_mobilenet_v1, input_size: 64}\ntrain: {metric: miou}");
        Assert.Contains("not a detector's metric", Assert.Throws<SlimException>(() => TaskRegistry.CreateTask(detectorMiou)).Message);
        Assert.Contains("published width", Assert.Throws<ModelException>(() => ModelRegistry.Create("fast_scnn", new ModelOptions { NumClasses = 3, Width = 0.5 })).Message);
    }

    [Fact]
    public void LossIsTheCrossEntropyOfTheLabelledPixelsOnly()
    {
        var task = Task();
        using var model = (nn.Module<Tensor, Tensor>)task.CreateModel();
        model.eval();
        using var scope = NewDisposeScope();
        var images = randn(2, 3, 64, 64);
        var labels = randint(0, task.NumClasses, new long[] { 2, 64, 64 });
        // A block of ignored pixels, which must not count in the mean.
        labels.narrow(1, 10, 20).fill_(SegmentationFamily.IgnoreIndex);
        using var batch = new SegmentationBatch { Images = images, Labels = labels, Indices = [0, 1] };
        float loss;
        using (no_grad()) loss = task.Loss(model)(batch).Total.item<float>();
        float[] logits;
        using (no_grad()) logits = model.call(images).log_softmax(1).ToFloatArray();
        var l = labels.data<long>().ToArray();
        int c = task.NumClasses, plane = 64 * 64;
        double sum = 0;
        int counted = 0;
        for (int n = 0; n < 2; n++)
            for (int p = 0; p < plane; p++)
            {
                long label = l[n * plane + p];
                if (label == SegmentationFamily.IgnoreIndex) continue;
                sum -= logits[(n * c + label) * plane + p];
                counted++;
            }
        Assert.Equal(2 * plane - 2 * 20 * 64, counted);
        Assert.Equal(sum / counted, loss, 4);
    }

    [Fact]
    public void AllBackgroundPredictionScoresTheHandComputedMeanIou()
    {
        var task = Task();
        // Generated at the input size, so the label maps are scored as written.
        long background = 0, total = 0;
        var present = new HashSet<int>();
        foreach (var s in task.Val.Samples)
        {
            var map = LabelMap.Load(s.LabelPath);
            foreach (var v in map.Labels)
            {
                total++;
                if (v == 0) background++;
                present.Add(v);
            }
        }
        // Predicting background everywhere: IoU(background) = its pixels / all pixels; every other present class 0.
        double expected = (double)background / total / present.Count;
        var score = task.Evaluate(x =>
        {
            var logits = zeros(x.shape[0], task.NumClasses, x.shape[2], x.shape[3]);
            logits.narrow(1, 0, 1).fill_(1);
            return logits;
        });
        Assert.Equal(expected, score.Primary, 9);
        Assert.Equal(total, score.Scores.Pixels);
        Assert.Equal((double)background / total, score.Scores.PixelAccuracy, 9);
    }

    [Fact]
    public void LabelsBeyondTheClassesAreRefusedNamingTheFile()
    {
        var task = Task();
        var sample = task.Train.Samples[0];
        var bad = new SegmentationDataset("bad", task.Train.ClassNames, [sample]);
        var loader = new SegmentationLoader(bad, new SegmentationLoaderOptions { BatchSize = 1, ImageSize = 64, NumClasses = 1, Workers = 0 });
        var e = Assert.Throws<DatasetException>(() => loader.GetEpoch(0).First().Dispose());
        Assert.Contains(sample.LabelPath, e.Message);
        Assert.Contains("model has 1 classes", e.Message);
    }

    [Fact]
    public void ExportedClassIdsAndLogitsScoreInOnnxRuntimeAsInLibtorch()
    {
        var task = Task();
        var dir = Directory.CreateDirectory(Path.Combine(data.Dir, "export-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        // Random batch-norm statistics make an untrained model give many classes (a briefly trained one says background everywhere).
        var ckpt = Path.Combine(dir, "random.ckpt");
        using (var model = task.CreateModel())
        {
            var g = new Generator(5);
            using (no_grad())
                foreach (var (_, m) in model.named_modules())
                {
                    if (m is Slim.Torch.Modules.BatchNorm2d bn) ExportTestSupport.Randomize(bn, g);
                    // He-normal weights keep the signal alive through the depth (the default init lets it fade to the biases).
                    if (m is Slim.Torch.Modules.Conv2d conv)
                    {
                        var w = conv.weight;
                        double fanIn = w.shape[1] * w.shape[2] * w.shape[3];
                        w.copy_(randn(w.shape, g) * Math.Sqrt(2 / fanIn));
                    }
                }
            Checkpoint.Save(ckpt, model.state_dict(), task.Metadata("fast_scnn", task.ModelOptions()));
        }
        var ids = Path.Combine(dir, "ids.onnx");
        var logits = Path.Combine(dir, "logits.onnx");
        ExportStage.ExportCheckpoint(ckpt, ids);
        ExportStage.ExportCheckpoint(ckpt, logits, section: new ExportSection { Logits = true });
        var idsMeta = OnnxExporter.Load(ids).MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("segmentation", idsMeta["task"]);
        Assert.Equal(SegmentationFamily.ClassIdsName, OnnxExporter.Load(ids).Graph.Output.Single().Name);
        Assert.Equal(SegmentationFamily.LogitsName, OnnxExporter.Load(logits).Graph.Output.Single().Name);

        using var loaded = ModelCheckpoint.Load(ckpt);
        var torchScore = task.Evaluate(x => loaded.Forward(x)[0]);
        var ortIds = task.EvaluateOnnx(ids, 1);
        var ortLogits = task.EvaluateOnnx(logits, 1);
        int predicted;
        using (var batch = task.ValBatches().First())
        using (no_grad())
            predicted = loaded.Forward(batch.Images)[0].argmax(1).data<long>().ToArray().Distinct().Count();
        Assert.True(predicted >= 3, $"the model predicts {predicted} class(es); it should predict several for this test to mean something");
        Assert.Equal(ortIds.Primary, ortLogits.Primary, 9);
        // Float rounding may flip a pixel whose two best classes tie; not more than a trace.
        Assert.True(Math.Abs(torchScore.Primary - ortIds.Primary) < 0.002, $"libtorch mIoU {torchScore.Primary} vs ONNX Runtime {ortIds.Primary}");
    }

    [Theory]
    [InlineData(160)] // low-resolution branch 5×5: pyramid bins 2, 3 and 6 do not divide it (MatMul pooling, Resize by sizes)
    [InlineData(192)] // 6×6: every bin divides it (plain pooling, Resize by scales)
    public void FastScnnExportMatchesLibtorchWhateverThePyramidBins(int size)
    {
        using var scope = NewDisposeScope();
        var options = new ModelOptions { NumClasses = 19, InputSize = size };
        using var model = ModelRegistry.CreateSegmenter("fast_scnn", options);
        var g = new Generator(11);
        foreach (var (_, m) in model.named_modules())
            if (m is Slim.Torch.Modules.BatchNorm2d bn) ExportTestSupport.Randomize(bn, g);
        model.eval();
        var export = SegmentationFamily.Instance.ExportOptions("fast_scnn", options, new ExportModelInfo(null, size, "t"), new ExportSection { Logits = true });
        var path = Path.Combine(data.Dir, $"fast_scnn_{size}.onnx");
        OnnxExporter.ExportToFile(model, path, export);
        var x = randn(2, 3, size, size);
        Tensor expected;
        using (no_grad()) expected = model.call(x);
        ExportTestSupport.AssertMatchesTorch(OrtRunner.Create(), path, SegmentationFamily.InputName, x, [expected], [SegmentationFamily.LogitsName], 2e-3f);
    }

    [Fact]
    public void GlobsSkipTheClassMapsAndUniformPruningReachesTheFlopsTarget()
    {
        var task = Task();
        using var model = (nn.Module<Tensor, Tensor>)task.CreateModel();
        var graph = ChannelDependencyGraph.Build(model, task.SampleInput());
        var all = PruningRatios.ExpandParameters("*", graph);
        Assert.DoesNotContain("classifier.conv.weights", all);
        Assert.Contains("feature_fusion.conv_low_res.conv.weights", all);
        var named = Assert.Throws<PruningException>(() => graph.GroupOf("classifier.conv.weights"));
        Assert.Contains("reach a model output", named.Message);
    }

    [Fact]
    public void DefaultDistillationIsPixelWiseSoftLabelOnTheOutputLogits()
    {
        var options = SegmentationFamily.Instance.Distillation(new DistillSection(), new ModelOptions { NumClasses = 3 });
        Assert.Equal(DistillationKind.SoftLabel, options.Kind);
        Assert.Equal(FeaturePair.ModelOutput, options.Pairs.Single());
        // Pixel-wise KL: the mean over N·H·W of each pixel's KL of the softened class distributions, times T².
        using var scope = NewDisposeScope();
        var s = tensor(new float[] { 1, 0, 0, 2, 0, 1, 3, 0 }, 1, 2, 2, 2);
        var t = tensor(new float[] { 0, 0, 1, 1, 1, 0, 0, 2 }, 1, 2, 2, 2);
        double expected = 0;
        var sv = s.data<float>().ToArray();
        var tv = t.data<float>().ToArray();
        const double T = 2;
        for (int p = 0; p < 4; p++)
        {
            double s0 = sv[p] / T, s1 = sv[4 + p] / T, t0 = tv[p] / T, t1 = tv[4 + p] / T;
            double zs = Math.Log(Math.Exp(s0) + Math.Exp(s1)), zt = Math.Log(Math.Exp(t0) + Math.Exp(t1));
            double pt0 = Math.Exp(t0 - zt), pt1 = Math.Exp(t1 - zt);
            expected += pt0 * ((t0 - zt) - (s0 - zs)) + pt1 * ((t1 - zt) - (s1 - zs));
        }
        expected = expected / 4 * T * T;
        Assert.Equal(expected, DistillationLosses.SoftLabel(s, t, T).item<float>(), 5);
    }
}
