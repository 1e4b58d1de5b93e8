using Slim.Data;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pipeline;

public class ClassificationTaskTests
{
    private static Recipe Recipe(string root = FashionMnist.DefaultDirectory, string model = "mobilenet_v1", string format = "fashion_mnist",
        long seed = 5, int valSubset = 40, int trainSubset = 0, int channels = 0) =>
        RecipeLoader.Parse<Recipe>($$"""
            seed: {{seed}}
            model: {name: {{model}}, width: 0.25, input_size: 32, in_channels: {{channels}}}
            dataset: {format: {{format}}, root: {{root}}, val_subset: {{valSubset}}, train_subset: {{trainSubset}}, workers: 1}
            train: {batch_size: 16, metric: top1}
            """);

    [Fact]
    public void MissingDatasetNamesTheFolderAndThePackage()
    {
        var dir = Directory.CreateTempSubdirectory("slim-fmnist-missing-").FullName;
        try
        {
            var e = Assert.Throws<SlimException>(() => ClassificationTask.Create(Recipe(root: dir)));
            Assert.Contains(dir, e.Message);
            Assert.Contains("dataset-fashion-mnist", e.Message);
            Assert.Contains("dataset.root", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void DetectorsAndDetectionFormatsAreRefused()
    {
        Assert.Contains("yolov3_mobilenet_v1", Assert.Throws<SlimException>(() => ClassificationTask.Create(Recipe(model: "yolov3_mobilenet_v1"))).Message);
        Assert.Contains("fashion_mnist", Assert.Throws<SlimException>(() => ClassificationTask.Create(Recipe(format: "coco"))).Message);
        Assert.Contains("in_channels", Assert.Throws<SlimException>(() => ClassificationTask.Create(Recipe(channels: 2))).Message);
    }

    [SkippableFact]
    public void SubsetsAreTheFirstImagesOfEachSplit()
    {
        Requires.FashionMnistData();
        var task = ClassificationTask.Create(Recipe(trainSubset: 100));
        var fullTest = FashionMnist.Load(FashionMnist.DefaultDirectory, FashionMnistSplit.Test);
        Assert.Equal(100, task.Train.Count);
        Assert.Equal(40, task.Test.Count);
        var test = (FashionMnistData)task.Test;
        Assert.Equal(fullTest.Labels.Take(40), test.Labels);
        Assert.Equal(fullTest.Images.Take(40 * 28 * 28), test.Images);
        Assert.Equal(10, task.NumClasses);
        Assert.Equal(7, ClassificationTask.Create(Recipe(trainSubset: 20, valSubset: 7)).Test.Count);
    }

    [SkippableFact]
    public void BatchIDependsOnlyOnTheSeedAndI()
    {
        Requires.FashionMnistData();
        using var scope = NewDisposeScope();
        var task = ClassificationTask.Create(Recipe(trainSubset: 100));
        // 100 images in batches of 16: 6 batches per epoch, so batch 8 is the third of epoch 1.
        var batches = task.TrainBatches(16);
        List<(Tensor images, Tensor labels, int[] indices)> fromStart = batches(0).Take(10).Cast<ClassificationBatch>()
            .Select(b => (b.Images, b.Labels, b.Indices.ToArray())).ToList();
        foreach (int from in new[] { 5, 6, 8 })
        {
            using var resumed = (ClassificationBatch)batches(from).First();
            Assert.Equal(fromStart[from].indices, resumed.Indices);
            Assert.True(fromStart[from].images.equal(resumed.Images), $"images of batch {from} differ on resume");
            Assert.True(fromStart[from].labels.equal(resumed.Labels));
        }
        // A new loader over the same seed repeats the stream; another seed shuffles differently.
        using (var again = (ClassificationBatch)task.TrainBatches(16)(3).First()) Assert.Equal(fromStart[3].indices, again.Indices);
        var other = ClassificationTask.Create(Recipe(seed: 6, trainSubset: 100));
        using (var shuffled = (ClassificationBatch)other.TrainBatches(16)(0).First()) Assert.NotEqual(fromStart[0].indices, shuffled.Indices);
        // Every image of an epoch appears once.
        Assert.Equal(96, fromStart.Take(6).SelectMany(b => b.indices).Distinct().Count());
        Assert.Equal(new long[] { 16, 1, 32, 32 }, fromStart[0].images.shape);
        Assert.Equal(ScalarType.Int64, fromStart[0].labels.dtype);
        Assert.Contains("fewer than one batch", Assert.Throws<SlimException>(() => task.TrainBatches(101)).Message);
    }

    [SkippableFact]
    public void LossIsTheMeanCrossEntropyOfTheLogits()
    {
        Requires.FashionMnistData();
        using var scope = NewDisposeScope();
        var task = ClassificationTask.Create(Recipe(trainSubset: 32));
        using var model = task.CreateModel();
        model.eval();
        using var batch = (ClassificationBatch)task.TrainBatches(16)(0).First();
        using var _ = no_grad();
        double loss = task.Loss(model)(batch).Total.item<double>();
        var logits = model.call(batch.Images).to(ScalarType.Float64).data<double>();
        var labels = batch.Labels.ToInt64Array();
        double expected = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            var row = logits.Skip(i * 10).Take(10).ToArray();
            double max = row.Max();
            double lse = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
            expected += lse - row[labels[i]];
        }
        Assert.Equal(expected / labels.Length, loss, 4);
    }

    [SkippableFact]
    public void TopOneCountsArgmaxHits()
    {
        Requires.FashionMnistData();
        var task = ClassificationTask.Create(Recipe(valSubset: 300, trainSubset: 16));
        // A "classifier" that always says class 3 is right exactly for the test images labelled 3.
        double expected = ((FashionMnistData)task.Test).Labels.Count(l => l == 3) / 300.0;
        var score = task.Evaluate(x =>
        {
            var logits = zeros(x.shape[0], 10);
            logits.select(1, 3).fill_(1.0);
            return logits;
        });
        Assert.Equal(expected, score.Primary);
        Assert.True(expected > 0);
        // The per-class table: class 3 all right, every other class all wrong.
        Assert.Equal(1.0, score.PerClass[3]);
        Assert.All(score.PerClass.Where(kv => kv.Key != 3), kv => Assert.Equal(0.0, kv.Value));
    }

    [SkippableFact]
    public void ThreeChannelsFeedAnRgbFirstLayer()
    {
        Requires.FashionMnistData();
        using var scope = NewDisposeScope();
        var task = ClassificationTask.Create(Recipe(trainSubset: 16, channels: 3));
        using var model = task.CreateModel();
        Assert.Equal(3, model.get_parameter("backbone.conv1.conv.weights").shape[1]);
        using var batch = task.TrainBatches(8)(0).First();
        Assert.Equal(new long[] { 8, 3, 32, 32 }, batch.Images.shape);
        // The gray value is repeated in every channel.
        Assert.True(batch.Images.select(1, 0).equal(batch.Images.select(1, 2)));
        Assert.Equal(3, task.ModelOptions().InChannels);
        Assert.Equal("mobilenet_v1", task.Metadata("mobilenet_v1", task.ModelOptions())["model.architecture"]);
    }

    [Fact]
    public void ImageFoldersAreReadWithClassesFromTheFolderNames()
    {
        var root = Directory.CreateTempSubdirectory("slim-imagefolder-").FullName;
        try
        {
            // Two classes told apart by brightness; the validation split lacks one class folder.
            foreach (var (split, cls, n, value) in new[] { ("train", "bright", 6, 220), ("train", "dark", 6, 30), ("val", "dark", 3, 40) })
            {
                var dir = Directory.CreateDirectory(Path.Combine(root, split, cls)).FullName;
                for (int i = 0; i < n; i++)
                {
                    var px = Enumerable.Repeat((byte)(value + i), 40 * 30 * 3).ToArray();
                    new Image(40, 30, 3, px).Save(Path.Combine(dir, $"{i:D2}.png"));
                }
            }
            var task = ClassificationTask.Create(Recipe(root: root, format: "image_folder", valSubset: 0));
            Assert.Equal(new[] { "bright", "dark" }, task.ClassNames);
            Assert.Equal(12, task.Train.Count);
            Assert.Equal(3, task.Test.Count);
            Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(1, task.Test.LabelOf(i)));
            Assert.Equal(3, task.InChannels);
            using var scope = NewDisposeScope();
            using var batch = (ClassificationBatch)task.TrainBatches(4)(0).First();
            Assert.Equal(new long[] { 4, 3, 32, 32 }, batch.Images.shape);
            // A subset takes the classes in turn.
            var cut = ClassificationTask.Create(Recipe(root: root, format: "image_folder", trainSubset: 4));
            Assert.Equal(2, Enumerable.Range(0, 4).Count(i => cut.Train.LabelOf(i) == 0));

            // Pretrained weights bring the input statistics they were trained with into training and the metadata.
            var options = new ModelOptions { NumClasses = 2, Width = 0.25, InputSize = 32, InChannels = 3 };
            using (var net = ModelRegistry.CreateClassifier("mobilenet_v1", options))
            {
                var meta = new Dictionary<string, string>(options.ToMetadata("mobilenet_v1"));
                foreach (var (k, v) in ExportModelInfo.NormalizationMetadata([0.5f, 0.4f, 0.3f], [0.2f, 0.25f, 0.3f])) meta[k] = v;
                Slim.Torch.Checkpoint.Save(Path.Combine(root, "pretrained.ckpt"), net.state_dict(), meta);
            }
            var recipe = Recipe(root: root, format: "image_folder", valSubset: 0);
            Assert.Equal("0.485,0.456,0.406", task.Metadata("mobilenet_v1", task.ModelOptions())[ExportModelInfo.MeanKey]);
            recipe.Model.Pretrained = Path.Combine(root, "pretrained.ckpt");
            var log = new List<string>();
            var pretrained = ClassificationTask.Create(recipe, log.Add);
            var pm = pretrained.Metadata("mobilenet_v1", pretrained.ModelOptions());
            Assert.Equal("0.5,0.4,0.3", pm[ExportModelInfo.MeanKey]);
            Assert.Equal("0.2,0.25,0.3", pm[ExportModelInfo.StdKey]);
            Assert.Contains(log, l => l.StartsWith("normalization of the pretrained weights", StringComparison.Ordinal));
            using (var pb = (ClassificationBatch)pretrained.TrainBatches(4)(0).First())
            using (var db = (ClassificationBatch)task.TrainBatches(4)(0).First())
            {
                // The same pixels, normalized by the pretrained statistics instead of ImageNet's: (x - 0.5) / 0.2 vs (x - 0.485) / 0.229.
                var x = db.Images.select(1, 0) * 0.229f + 0.485f;
                Assert.True(pb.Images.select(1, 0).allclose((x - 0.5f) / 0.2f, 1e-4, 1e-4));
            }

            Directory.CreateDirectory(Path.Combine(root, "val", "cat"));
            var e = Assert.Throws<DatasetException>(() => ClassificationTask.Create(Recipe(root: root, format: "image_folder")));
            Assert.Contains("cat", e.Message);
            Assert.Contains("training classes", e.Message);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
