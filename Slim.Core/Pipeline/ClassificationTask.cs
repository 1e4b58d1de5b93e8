using Slim.Data;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Pipeline;

/// <summary>Choices of a classification task that the recipe schema does not carry.</summary>
public sealed record ClassificationTaskOptions
{
    /// <summary>Train on the first this many training images only (0 = all 60,000); tests and quick runs use it.</summary>
    public int TrainSubset { get; init; }

    /// <summary>Evaluate on the first this many test images (null = dataset.val_subset of the recipe; 0 = all 10,000).</summary>
    public int? TestSubset { get; init; }

    /// <summary>1 (gray, as Fashion-MNIST is) or 3 (gray replicated to RGB, for ImageNet-shaped first layers).</summary>
    public int Channels { get; init; } = 1;
}

/// <summary>
/// Everything a classification recipe needs besides the model: Fashion-MNIST train and test sets
/// (optionally cut to their first images), seeded training batches with exact resume, the
/// cross-entropy loss, and top-1 accuracy. The counterpart of <see cref="DetectionTask"/>.
/// </summary>
public sealed class ClassificationTask
{
    private readonly Recipe _recipe;
    private readonly ClassificationTaskOptions _options;

    private ClassificationTask(Recipe recipe, ClassificationTaskOptions options, FashionMnistData train, FashionMnistData test)
    {
        _recipe = recipe;
        _options = options;
        Train = train;
        Test = test;
        int classes = FashionMnist.ClassNames.Count;
        NumClasses = recipe.Model.NumClasses > 0 ? recipe.Model.NumClasses : classes;
        if (NumClasses < classes)
            throw new SlimException($"model.num_classes is {recipe.Model.NumClasses} but Fashion-MNIST has {classes} classes: set 10 or 0 (from the dataset)");
    }

    /// <summary>The training images (after the subset).</summary>
    public FashionMnistData Train { get; }

    /// <summary>The evaluation images (after the subset).</summary>
    public FashionMnistData Test { get; }

    /// <summary>Logits of the classifier (10 unless the recipe asks for more).</summary>
    public int NumClasses { get; }

    /// <summary>Network input channels (1 or 3).</summary>
    public int InChannels => _options.Channels;

    /// <summary>Network input side in pixels (images are resized from 28).</summary>
    public int InputSize => _recipe.Model.InputSize;

    /// <summary>The class names, by label.</summary>
    public IReadOnlyList<string> ClassNames => FashionMnist.ClassNames;

    /// <summary>The metric's name as reports print it.</summary>
    public string MetricName => "top-1 accuracy";

    /// <summary>
    /// Reads Fashion-MNIST from dataset.root (the idx files, gzip-compressed or not) and cuts the
    /// subsets. Throws a <see cref="SlimException"/> naming the folder and the Debian package when absent.
    /// </summary>
    public static ClassificationTask Create(Recipe recipe, ClassificationTaskOptions? options = null, Action<string>? log = null)
    {
        options ??= new ClassificationTaskOptions();
        var d = recipe.Dataset;
        if (d.Format != DatasetFormat.FashionMnist)
            throw new SlimException($"dataset.format {d.Format} is not a classification dataset: classifiers ({recipe.Model.Name}) train on fashion_mnist");
        if (ModelRegistry.TaskOf(recipe.Model.Name) != ModelTask.Classification)
            throw new SlimException($"model.name '{recipe.Model.Name}' is a detector; fashion_mnist recipes need a classifier such as mobilenet_v1, mobilenet_v2 or resnet50");
        if (options.Channels is not (1 or 3))
            throw new SlimException($"classification channels = {options.Channels}: must be 1 (gray) or 3 (gray as RGB)");
        if (options.TrainSubset < 0 || options.TestSubset < 0)
            throw new SlimException("classification train/test subset sizes must be 0 (all) or more");
        var root = Path.GetFullPath(d.Root);
        if (!FashionMnist.IsAvailable(root, FashionMnistSplit.Train) || !FashionMnist.IsAvailable(root, FashionMnistSplit.Test))
            throw new SlimException($"dataset.root '{root}' does not hold Fashion-MNIST (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " +
                $"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, or the same without .gz); on Debian install the package " +
                $"dataset-fashion-mnist and set dataset.root to {FashionMnist.DefaultDirectory}");
        var train = Take(FashionMnist.Load(root, FashionMnistSplit.Train), options.TrainSubset);
        var test = Take(FashionMnist.Load(root, FashionMnistSplit.Test), options.TestSubset ?? d.ValSubset);
        log?.Invoke($"Fashion-MNIST from {root}: {train.Count} training and {test.Count} test images");
        return new ClassificationTask(recipe, options, train, test);
    }

    // The first n images: Fashion-MNIST's files are shuffled, so a prefix is close to class-balanced.
    private static FashionMnistData Take(FashionMnistData data, int n)
    {
        if (n <= 0 || n >= data.Count) return data;
        int plane = data.Rows * data.Cols;
        return new FashionMnistData(data.Images.AsSpan(0, n * plane).ToArray(), data.Labels.AsSpan(0, n).ToArray(), data.Rows, data.Cols);
    }

    /// <summary>The model options of the recipe, with the dataset's class and channel counts.</summary>
    public ModelOptions ModelOptions(ModelSection? model = null)
    {
        var m = model ?? _recipe.Model;
        return new ModelOptions { NumClasses = NumClasses, Width = m.Width, InputSize = m.InputSize, InChannels = InChannels };
    }

    /// <summary>A freshly initialised classifier of the recipe's architecture (seeded by the recipe's seed).</summary>
    public ImageClassifier CreateModel(ModelSection? model = null)
    {
        var m = model ?? _recipe.Model;
        if (ModelRegistry.TaskOf(m.Name) != ModelTask.Classification)
            throw new SlimException($"model.name '{m.Name}' is a detector; classification recipes need a classifier such as mobilenet_v1");
        manual_seed(_recipe.Seed);
        return ModelRegistry.CreateClassifier(m.Name, ModelOptions(m));
    }

    /// <summary>Checkpoint metadata that rebuilds the model (architecture, options, classes).</summary>
    public Dictionary<string, string> Metadata(string architecture, ModelOptions options)
    {
        var meta = options.ToMetadata(architecture);
        meta["dataset.class_names"] = string.Join("\n", ClassNames);
        return meta;
    }

    private ClassificationLoaderOptions LoaderOptions(int batchSize, bool train, int seed) => new()
    {
        BatchSize = batchSize,
        Train = train,
        Seed = seed,
        ImageSize = InputSize,
        Channels = InChannels,
        // Fashion-MNIST's gray statistics, repeated for every channel of the RGB form.
        Mean = Enumerable.Repeat(ClassificationLoaderOptions.FashionMnistMean[0], InChannels).ToArray(),
        Std = Enumerable.Repeat(ClassificationLoaderOptions.FashionMnistStd[0], InChannels).ToArray(),
        RandomFlip = train && _recipe.Train.Augment,
        Workers = _recipe.Dataset.Workers,
    };

    /// <summary>Training batches from a given iteration on; batch i depends only on the seed and i.</summary>
    public Func<long, IEnumerable<ClassificationBatch>> TrainBatches(int batchSize, int seedOffset = 0)
    {
        if (Train.Count < batchSize)
            throw new SlimException($"the training set has {Train.Count} images, fewer than one batch of {batchSize} (train.batch_size)");
        var loader = new ClassificationLoader(Train, LoaderOptions(batchSize, true, (int)_recipe.Seed + seedOffset));
        int perEpoch = loader.BatchesPerEpoch;
        return from => Iterate(loader, perEpoch, from);
    }

    private static IEnumerable<ClassificationBatch> Iterate(ClassificationLoader loader, int perEpoch, long from)
    {
        if (from < 0) throw new ArgumentOutOfRangeException(nameof(from), from, "the first iteration must be 0 or more");
        int epoch = (int)(from / perEpoch);
        int start = (int)(from % perEpoch);
        while (true)
        {
            foreach (var b in loader.GetEpoch(epoch, start)) yield return b;
            epoch++;
            start = 0;
        }
    }

    /// <summary>The cross-entropy of a classifier on a batch (the logits' softmax against the labels, mean over the batch).</summary>
    public Func<ClassificationBatch, LossParts> Loss(nn.Module<Tensor, Tensor> model) =>
        batch => new LossParts(F.cross_entropy(model.call(batch.Images), batch.Labels), new Dictionary<string, Tensor>());

    /// <summary>The test images in order, in batches (no augmentation); dispose each.</summary>
    public IEnumerable<ClassificationBatch> TestBatches(int batchSize = 100) =>
        new ClassificationLoader(Test, LoaderOptions(batchSize, false, 0)).GetEpoch(0);

    /// <summary>Top-1 accuracy (0-1) of a forward (images → logits) on the test images, without gradients.</summary>
    public double Evaluate(Func<Tensor, Tensor> forward)
    {
        long correct = 0, total = 0;
        using (no_grad())
            foreach (var batch in TestBatches())
                using (batch)
                using (NewDisposeScope())
                {
                    var logits = forward(batch.Images);
                    if (logits.dim() != 2 || logits.shape[0] != batch.Count)
                        throw new SlimException($"the classifier returned logits of shape [{string.Join(", ", logits.shape)}] for {batch.Count} images; expected [{batch.Count}, classes]");
                    correct += logits.argmax(1).eq(batch.Labels).sum().item<long>();
                    total += batch.Count;
                }
        return (double)correct / total;
    }

    /// <summary>
    /// Calibration images for post-training quantization: the first batches of training epoch 0
    /// without flips (so calibration is independent of augmentation). Each tensor is released when
    /// the enumeration moves on.
    /// </summary>
    public IEnumerable<Tensor> CalibrationImages(int batches, int batchSize)
    {
        var options = LoaderOptions(batchSize, true, (int)_recipe.Seed) with { RandomFlip = false };
        var loader = new ClassificationLoader(Train, options);
        int n = Math.Min(batches, loader.BatchesPerEpoch);
        if (n == 0) throw new SlimException($"the training set has {Train.Count} images, fewer than one calibration batch of {batchSize}");
        int i = 0;
        foreach (var batch in loader.GetEpoch(0))
        {
            using (batch) yield return batch.Images;
            if (++i >= n) yield break;
        }
    }

    /// <summary>One test image as a batch of 1 (for tracing and statistics).</summary>
    public Tensor SampleInput()
    {
        using var batch = new ClassificationLoader(Test, LoaderOptions(1, false, 0)).GetEpoch(0).First();
        return batch.Images.clone();
    }
}
