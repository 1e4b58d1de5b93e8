using System.Globalization;
using Slim.Data;
using Slim.Data.Transforms;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;
using Slim.Training;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Tasks.Classification;

/// <summary>
/// Everything a classification recipe needs besides the model: Fashion-MNIST (idx files) or an
/// ImageNet-layout image folder, cut to dataset.train_subset / val_subset images, seeded training
/// batches with exact resume, the cross-entropy loss, and top-1 accuracy in libtorch or ONNX Runtime.
/// </summary>
public sealed class ClassificationTask : ITask
{
    private readonly Recipe _recipe;
    private readonly float[] _mean;
    private readonly float[] _std;

    private ClassificationTask(Recipe recipe, ILabeledImages train, ILabeledImages test, IReadOnlyList<string> classNames, int channels,
        float[] mean, float[] std, string source)
    {
        _recipe = recipe;
        Train = train;
        Test = test;
        ClassNames = classNames;
        InChannels = channels;
        _mean = mean;
        _std = std;
        TrainSource = source;
        NumClasses = recipe.Model.NumClasses > 0 ? recipe.Model.NumClasses : classNames.Count;
        if (NumClasses < classNames.Count)
            throw new SlimException($"model.num_classes is {recipe.Model.NumClasses} but the dataset has {classNames.Count} classes: set {classNames.Count} or 0 (from the dataset)");
    }

    /// <summary>The training images (after the subset).</summary>
    public ILabeledImages Train { get; }

    /// <summary>The evaluation images (after the subset).</summary>
    public ILabeledImages Test { get; }

    public TaskFamily Family => ClassificationFamily.Instance;
    public Recipe Recipe => _recipe;
    public int NumClasses { get; }

    /// <summary>Network input channels (1 or 3).</summary>
    public int InChannels { get; }

    public int InputSize => _recipe.Model.InputSize;
    public IReadOnlyList<string> ClassNames { get; }
    public string MetricName => "top-1 accuracy";
    public int ValImageCount => Test.Count;
    public int TrainImageCount => Train.Count;
    public string TrainSource { get; }

    public IReadOnlyList<string> DataSummary() => [Data.DataSummary.Describe("train", Train, ClassNames), Data.DataSummary.Describe("test", Test, ClassNames)];

    /// <summary>The normalization mean per input channel.</summary>
    public IReadOnlyList<float> Mean => _mean;

    /// <summary>The normalization standard deviation per input channel.</summary>
    public IReadOnlyList<float> Std => _std;

    /// <summary>
    /// Reads the recipe's data: Fashion-MNIST from dataset.root (the idx files, gzip-compressed or not)
    /// or an image folder (root/train_images/&lt;class&gt;, root/val_images/&lt;class&gt;), and cuts the subsets.
    /// Fails naming the folder (and, for Fashion-MNIST, the Debian package) when the data is absent.
    /// </summary>
    public static ClassificationTask Create(Recipe recipe, Action<string>? log = null, int? valLimit = null)
    {
        var d = recipe.Dataset;
        if (ModelRegistry.Contains(recipe.Model.Name) && ModelRegistry.TaskOf(recipe.Model.Name) != ModelTask.Classification)
            throw new SlimException($"model.name '{recipe.Model.Name}' is a detector; {RecipeBinder.EnumName(typeof(DatasetFormat), d.Format)} recipes need a classifier such as mobilenet_v1, mobilenet_v2 or resnet50");
        var root = Path.GetFullPath(d.Root);
        ILabeledImages train, test;
        IReadOnlyList<string> names;
        float[] mean, std;
        int channels;
        string source;
        switch (d.Format)
        {
            case DatasetFormat.FashionMnist:
                if (!FashionMnist.IsAvailable(root, FashionMnistSplit.Train) || !FashionMnist.IsAvailable(root, FashionMnistSplit.Test))
                    throw new SlimException($"dataset.root '{root}' does not hold Fashion-MNIST (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " +
                        $"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, or the same without .gz); on Debian install the package " +
                        $"dataset-fashion-mnist and set dataset.root to {FashionMnist.DefaultDirectory}");
                train = FashionMnist.Load(root, FashionMnistSplit.Train);
                test = FashionMnist.Load(root, FashionMnistSplit.Test);
                names = FashionMnist.ClassNames;
                channels = recipe.Model.InChannels == 0 ? 1 : recipe.Model.InChannels;
                // Fashion-MNIST's gray statistics, repeated for every channel of the RGB form.
                mean = Enumerable.Repeat(ClassificationLoaderOptions.FashionMnistMean[0], channels).ToArray();
                std = Enumerable.Repeat(ClassificationLoaderOptions.FashionMnistStd[0], channels).ToArray();
                source = $"Fashion-MNIST ({root})";
                break;
            case DatasetFormat.ImageFolder:
            {
                var trainData = ImageFolderData.Load(Path.Combine(root, d.TrainImages));
                train = trainData;
                test = ImageFolderData.Load(Path.Combine(root, d.ValImages), trainData.ClassNames);
                names = trainData.ClassNames;
                channels = recipe.Model.InChannels == 0 ? 3 : recipe.Model.InChannels;
                if (channels != 3) throw new SlimException($"model.in_channels is {channels}; image_folder data is read as RGB: set 3 or 0");
                mean = DetectionTransforms.ImageNetMean.ToArray();
                std = DetectionTransforms.ImageNetStd.ToArray();
                source = $"image folder {Path.Combine(root, d.TrainImages)}";
                break;
            }
            default:
                throw new SlimException($"dataset.format {RecipeBinder.EnumName(typeof(DatasetFormat), d.Format)} is not a classification dataset: classifiers ({recipe.Model.Name}) train on fashion_mnist or image_folder");
        }
        if (channels is not (1 or 3))
            throw new SlimException($"model.in_channels is {channels}: must be 1 (gray) or 3 (RGB; gray repeated for Fashion-MNIST)");
        // The starting weights (model.checkpoint, else model.pretrained) expect their own input statistics: training,
        // the checkpoints' metadata, export and inference then all use them.
        if (PretrainedWeights.Normalization(recipe.Model) is { } pretrained && pretrained.Mean.Length == channels && pretrained.Std.Length == channels
            && !(pretrained.Mean.SequenceEqual(mean) && pretrained.Std.SequenceEqual(std)))
        {
            (mean, std) = (pretrained.Mean, pretrained.Std);
            log?.Invoke(PretrainedWeights.DescribeNormalization(recipe.Model, mean, std));
        }
        train = train.Take(d.TrainSubset);
        test = test.Take(valLimit ?? d.ValSubset);
        log?.Invoke($"{source}: {train.Count} training and {test.Count} test images, {names.Count} classes");
        return new ClassificationTask(recipe, train, test, names, channels, mean, std, source);
    }

    /// <inheritdoc/>
    public ITask WithValidationLimit(int images) =>
        new ClassificationTask(_recipe, Train, Test.Take(images), ClassNames, InChannels, _mean, _std, TrainSource);

    /// <inheritdoc/>
    public ITask WithNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std) =>
        new ClassificationTask(_recipe, Train, Test, ClassNames, InChannels, InputRenormalization.PerChannel(mean, InChannels), InputRenormalization.PerChannel(std, InChannels), TrainSource);

    /// <summary>The model options of the recipe, with the dataset's class and channel counts.</summary>
    public ModelOptions ModelOptions(ModelSection? model = null)
    {
        var m = model ?? _recipe.Model;
        return new ModelOptions { NumClasses = NumClasses, Width = m.Width, InputSize = m.InputSize, InChannels = InChannels, Layout = m.Layout ?? PretrainedWeights.Layout(m) };
    }

    torch.nn.Module ITask.CreateModel(ModelSection? model) => CreateModel(model);

    /// <summary>A freshly initialised classifier of the recipe's architecture (seeded by the recipe's seed).</summary>
    public ImageClassifier CreateModel(ModelSection? model = null)
    {
        var m = model ?? _recipe.Model;
        if (!Family.Architectures.Contains(m.Name))
            throw new SlimException($"model.name '{m.Name}' is not a classifier; classification recipes need one of {string.Join(", ", Family.Architectures)}");
        manual_seed(_recipe.Seed);
        return ModelRegistry.CreateClassifier(m.Name, ModelOptions(m));
    }

    /// <summary>Checkpoint metadata that rebuilds the model (architecture, options, classes).</summary>
    public Dictionary<string, string> Metadata(string architecture, ModelOptions options)
    {
        var meta = options.ToMetadata(architecture);
        meta[ExportModelInfo.ClassNamesKey] = string.Join("\n", ClassNames);
        foreach (var (k, v) in ExportModelInfo.NormalizationMetadata(_mean, _std)) meta[k] = v;
        return meta;
    }

    private ClassificationLoaderOptions LoaderOptions(int batchSize, bool train, int seed) => new()
    {
        BatchSize = batchSize,
        Train = train,
        Seed = seed,
        ImageSize = InputSize,
        Channels = InChannels,
        Mean = _mean,
        Std = _std,
        RandomFlip = train && _recipe.Train.Augment,
        Workers = _recipe.Dataset.Workers,
    };

    /// <summary>Training batches from a given iteration on; batch i depends only on the seed and i.</summary>
    public Func<long, IEnumerable<IImageBatch>> TrainBatches(int batchSize, int seedOffset = 0, DataShard? shard = null)
    {
        if (Train.Count < batchSize)
            throw new SlimException($"the training set has {Train.Count} images, fewer than one batch of {batchSize} (train.batch_size)");
        var loader = new ClassificationLoader(Train, LoaderOptions(batchSize, true, (int)_recipe.Seed + seedOffset) with { Shard = shard });
        int perEpoch = loader.BatchesPerEpoch;
        return from => BatchStream.From((e, start) => loader.GetEpoch(e, start), perEpoch, from);
    }

    /// <summary>The cross-entropy of a classifier on a batch (the logits' softmax against the labels, mean over the batch).</summary>
    public Func<IImageBatch, LossParts> Loss(nn.Module model)
    {
        var classifier = model as nn.Module<Tensor, Tensor> ?? throw new SlimException($"a {model.TypeName} is not a classifier");
        return b => new LossParts(F.cross_entropy(classifier.call(b.Images), ((ClassificationBatch)b).Labels), new Dictionary<string, Tensor>());
    }

    /// <summary>The test images in order, in batches (no augmentation); dispose each.</summary>
    public IEnumerable<ClassificationBatch> TestBatches(int batchSize = 100) =>
        new ClassificationLoader(Test, LoaderOptions(batchSize, false, 0)).GetEpoch(0);

    TaskScore ITask.Evaluate(nn.Module model) => Evaluate(x => Family.Forward(model, x)[0]);

    /// <summary>Top-1 accuracy (0-1) of a forward (images → logits) on the test images, without gradients, with per-class accuracy.</summary>
    public ClassificationScore Evaluate(Func<Tensor, Tensor> forward)
    {
        var predicted = new List<long>();
        var labels = new List<long>();
        using (no_grad())
            foreach (var batch in TestBatches())
                using (batch)
                using (NewDisposeScope())
                {
                    var logits = forward(batch.Images);
                    CheckLogits(logits.shape, batch.Count);
                    predicted.AddRange(logits.argmax(1).data<long>());
                    labels.AddRange(batch.Labels.data<long>());
                }
        return Score(predicted, labels);
    }

    TaskScore ITask.EvaluateOnnx(string onnxPath, int threads) => EvaluateOnnx(onnxPath, threads);

    /// <summary>Top-1 accuracy of an exported classifier in ONNX Runtime on the same test images (one session for all batches).</summary>
    public ClassificationScore EvaluateOnnx(string onnxPath, int threads)
    {
        string input = ClassificationFamily.InputName;
        var runner = OrtRunner.Create();
        var labels = new List<long>();
        var predicted = new List<long>();
        // A chunk of batches per ONNX Runtime call: memory stays bounded for a large image folder.
        foreach (var chunk in TestBatches().Chunk(OrtRunner.InputSetsPerCall))
        {
            var feeds = new List<IReadOnlyDictionary<string, OrtTensor>>();
            foreach (var batch in chunk)
                using (batch)
                {
                    feeds.Add(new Dictionary<string, OrtTensor> { [input] = OrtTensor.FromTensor(batch.Images) });
                    labels.AddRange(batch.Labels.data<long>());
                }
            foreach (var o in runner.Run(onnxPath, feeds, threads)) Predict(o);
        }
        void Predict(IReadOnlyDictionary<string, OrtTensor> o)
        {
            if (!o.TryGetValue(ClassificationFamily.OutputName, out var logits))
                throw new SlimException($"{onnxPath}: ONNX Runtime returned no output '{ClassificationFamily.OutputName}' (outputs: {string.Join(", ", o.Keys)}); export the classifier with slim export");
            var values = logits.ToFloatArray();
            long n = logits.Shape[0], c = logits.Shape.Length == 2 ? logits.Shape[1] : -1;
            CheckLogits(logits.Shape, (int)n);
            for (long i = 0; i < n; i++)
            {
                long best = 0;
                for (long k = 1; k < c; k++)
                    if (values[i * c + k] > values[i * c + best]) best = k;
                predicted.Add(best);
            }
        }
        if (predicted.Count != labels.Count)
            throw new SlimException($"{onnxPath}: {predicted.Count} predictions for {labels.Count} test images");
        return Score(predicted, labels);
    }

    private static void CheckLogits(long[] shape, int batch)
    {
        if (shape.Length != 2 || shape[0] != batch)
            throw new SlimException($"the classifier returned logits of shape [{string.Join(", ", shape)}] for {batch} images; expected [{batch}, classes]");
    }

    private ClassificationScore Score(IReadOnlyList<long> predicted, IReadOnlyList<long> labels)
    {
        var total = new int[ClassNames.Count];
        var right = new int[ClassNames.Count];
        int correct = 0;
        for (int i = 0; i < labels.Count; i++)
        {
            int l = (int)labels[i];
            total[l]++;
            if (predicted[i] == labels[i])
            {
                right[l]++;
                correct++;
            }
        }
        double top1 = labels.Count == 0 ? 0 : (double)correct / labels.Count;
        var inv = CultureInfo.InvariantCulture;
        var rows = new List<IReadOnlyList<string>>();
        for (int c = 0; c < ClassNames.Count; c++)
            if (total[c] > 0)
                rows.Add(new[] { c.ToString(inv), ClassNames[c], total[c].ToString(inv), (100.0 * right[c] / total[c]).ToString("F2", inv) });
        rows.Add(new[] { "", "all", labels.Count.ToString(inv), (100.0 * top1).ToString("F2", inv) });
        var table = new ScoreTable("top-1 accuracy per class (%)", new[] { "Class", "Name", "images", "top-1 %" }, rows, new[] { 0, 2, 3 });
        var perClass = Enumerable.Range(0, ClassNames.Count).Where(c => total[c] > 0).ToDictionary(c => c, c => (double)right[c] / total[c]);
        return new ClassificationScore(top1, correct, labels.Count, perClass, table);
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, OrtTensor> OnnxInputs(string onnxPath, Tensor images) =>
        new Dictionary<string, OrtTensor> { [ClassificationFamily.InputName] = OrtTensor.FromTensor(images) };

    /// <summary>
    /// Calibration images for post-training quantization: the first batches of training epoch 0
    /// without flips (so calibration is independent of augmentation). Each tensor is released when
    /// the enumeration moves on.
    /// </summary>
    public IEnumerable<Tensor> CalibrationImages(int batches, int batchSize, Action<string>? log = null)
    {
        var options = LoaderOptions(batchSize, true, (int)_recipe.Seed) with { RandomFlip = false };
        var loader = new ClassificationLoader(Train, options);
        int n = Math.Min(batches, loader.BatchesPerEpoch);
        if (n == 0) throw new SlimException($"no calibration data: the training set has {Train.Count} images, fewer than one batch of {batchSize} (train.batch_size)");
        if (n < batches) log?.Invoke($"calibration: the training set has {loader.BatchesPerEpoch} batches of {batchSize}; calibrating on {n} instead of {batches}");
        return Images(loader, n);
    }

    private static IEnumerable<Tensor> Images(ClassificationLoader loader, int n)
    {
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

/// <summary>Top-1 accuracy of one evaluation, with the per-class table.</summary>
public sealed class ClassificationScore(double top1, int correct, int images, IReadOnlyDictionary<int, double> perClass, ScoreTable table)
    : TaskScore(top1, $"{correct} of {images} images right", new[] { table })
{
    /// <summary>Correctly classified images.</summary>
    public int Correct { get; } = correct;

    /// <summary>Images scored.</summary>
    public int Images { get; } = images;

    /// <summary>Accuracy (0-1) of each class present in the test set.</summary>
    public IReadOnlyDictionary<int, double> PerClass { get; } = perClass;
}
