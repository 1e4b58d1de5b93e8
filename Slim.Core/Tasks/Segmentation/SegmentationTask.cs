using System.Globalization;
using Slim.Data;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Segmentation;
using Slim.Tasks.Detection;
using Slim.Torch;
using Slim.Training;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Tasks.Segmentation;

/// <summary>
/// Everything a segmentation recipe needs besides the model: the data (Cityscapes' layout, PaddleSeg's list files, or
/// the offline sample data generated with label maps), seeded training batches with exact resume, the per-pixel
/// cross-entropy (pixels labelled 255 ignored), and mIoU from a confusion matrix in libtorch or ONNX Runtime. Images
/// and label maps are resized to the square input (labels by nearest neighbour) and scored there.
/// </summary>
public sealed class SegmentationTask : ITask
{
    private readonly Recipe _recipe;
    private readonly float[] _mean;
    private readonly float[] _std;

    private SegmentationTask(Recipe recipe, SegmentationDataset train, SegmentationDataset val, IReadOnlyList<string> classNames, float[] mean, float[] std)
    {
        _recipe = recipe;
        Train = train;
        Val = val;
        (_mean, _std) = (mean, std);
        NumClasses = recipe.Model.NumClasses > 0 ? recipe.Model.NumClasses : classNames.Count;
        if (NumClasses < classNames.Count)
            throw new SlimException($"model.num_classes is {recipe.Model.NumClasses} but the dataset names {classNames.Count} classes: set {classNames.Count} or 0 (from the dataset)");
        if (NumClasses < 2)
            throw new SlimException($"the dataset names {classNames.Count} class(es) and model.num_classes is {recipe.Model.NumClasses}: a segmenter needs at least 2 classes (background and one more); " +
                                    "give a class-name file (dataset.label_list) or model.num_classes");
        if (NumClasses >= SegmentationFamily.IgnoreIndex)
            throw new SlimException($"model.num_classes is {NumClasses}: label maps are 8-bit with {SegmentationFamily.IgnoreIndex} as 'ignore', so at most {SegmentationFamily.IgnoreIndex - 1} classes");
        ClassNames = Enumerable.Range(0, NumClasses).Select(c => c < classNames.Count ? classNames[c] : $"class {c}").ToArray();
    }

    /// <summary>The training samples (after the subset).</summary>
    public SegmentationDataset Train { get; }

    /// <summary>The validation samples scored (after the subset or limit).</summary>
    public SegmentationDataset Val { get; }

    public TaskFamily Family => SegmentationFamily.Instance;
    public Recipe Recipe => _recipe;
    public int NumClasses { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public int InputSize => _recipe.Model.InputSize;
    public IReadOnlyList<float> Mean => _mean;
    public IReadOnlyList<float> Std => _std;
    public string MetricName => "mIoU";
    public int ValImageCount => Val.Samples.Count;
    public int TrainImageCount => Train.Samples.Count;
    public string TrainSource => Train.Source;

    public IReadOnlyList<string> DataSummary() =>
    [
        $"train: {Train.Samples.Count} images with label maps ({Train.Source})",
        $"val: {Val.Samples.Count} images with label maps ({Val.Source}); {NumClasses} classes, label {SegmentationFamily.IgnoreIndex} ignored",
    ];

    /// <summary>Loads (generating first, for synthetic data) the recipe's train and validation sets; checks every pair's sizes before any work.</summary>
    public static SegmentationTask Create(Recipe recipe, Action<string>? log = null, int? valLimit = null)
    {
        var d = recipe.Dataset;
        if (ModelRegistry.Contains(recipe.Model.Name) && ModelRegistry.TaskOf(recipe.Model.Name) != ModelTask.Segmentation)
            throw new SlimException($"model.name '{recipe.Model.Name}' is not a segmenter; {RecipeBinder.EnumName(typeof(DatasetFormat), d.Format)} data needs one of {string.Join(", ", ModelRegistry.NamesOf(ModelTask.Segmentation))}");
        var m = recipe.Model;
        if (m.InChannels is not (0 or 3))
            throw new SlimException($"model.in_channels is {m.InChannels}; segmenters take RGB images: set 3 or 0");
        var root = Path.GetFullPath(d.Root);
        SegmentationDataset train, val;
        IReadOnlyList<string> names;
        switch (d.Format)
        {
            case DatasetFormat.Synthetic:
            {
                EnsureSynthetic(d, log);
                var labels = Path.Combine("segmentation", "labels.txt");
                train = SegmentationDataset.LoadList(root, Path.Combine("segmentation", "train.txt"), labels);
                val = SegmentationDataset.LoadList(root, Path.Combine("segmentation", "val.txt"), labels);
                names = train.ClassNames;
                break;
            }
            case DatasetFormat.Cityscapes:
                train = SegmentationDataset.LoadCityscapes(root, "train");
                val = SegmentationDataset.LoadCityscapes(root, "val");
                names = SegmentationDataset.CityscapesClasses;
                break;
            case DatasetFormat.SegmentationList:
            {
                var defaults = new DatasetSection();
                string trainList = d.TrainList == defaults.TrainList ? "train.txt" : d.TrainList;
                string valList = d.ValList == defaults.ValList ? "val.txt" : d.ValList;
                string? labelFile = File.Exists(Path.Combine(root, d.LabelList)) ? d.LabelList
                    : d.LabelList != defaults.LabelList ? throw new SlimException($"dataset.label_list: {Path.Combine(root, d.LabelList)} does not exist; give a file with one class name per line, in label order")
                    : File.Exists(Path.Combine(root, "labels.txt")) ? "labels.txt" : null;
                train = SegmentationDataset.LoadList(root, trainList, labelFile);
                val = SegmentationDataset.LoadList(root, valList, labelFile);
                names = train.ClassNames;
                break;
            }
            default:
                throw new SlimException($"dataset.format {RecipeBinder.EnumName(typeof(DatasetFormat), d.Format)} is not a segmentation dataset: segmenters ({recipe.Model.Name}) train on cityscapes, segmentation_list or synthetic");
        }
        if (d.TrainSubset > 0 && d.TrainSubset < train.Samples.Count)
            train = new SegmentationDataset(train.Source, train.ClassNames, train.Samples.Take(d.TrainSubset).ToList());
        int limit = valLimit ?? d.ValSubset;
        if (limit > 0 && limit < val.Samples.Count)
            val = new SegmentationDataset(val.Source, val.ClassNames, val.Samples.Take(limit).ToList());
        train = train.Validate();
        val = val.Validate();
        var (mean, std) = (Enumerable.Repeat(0.5f, 3).ToArray(), Enumerable.Repeat(0.5f, 3).ToArray());
        // The starting weights (model.checkpoint, else model.pretrained) expect their own input statistics.
        if (PretrainedWeights.Normalization(recipe.Model) is { } pretrained && pretrained.Mean.Length == 3 && pretrained.Std.Length == 3
            && !(pretrained.Mean.SequenceEqual(mean) && pretrained.Std.SequenceEqual(std)))
        {
            (mean, std) = (pretrained.Mean, pretrained.Std);
            log?.Invoke(PretrainedWeights.DescribeNormalization(recipe.Model, mean, std));
        }
        log?.Invoke($"{train.Source}: {train.Samples.Count} training and {val.Samples.Count} validation images with label maps");
        return new SegmentationTask(recipe, train, val, names, mean, std);
    }

    /// <summary>Generates the sample data with label maps into dataset.root unless it holds them already; returns the folder.</summary>
    public static string EnsureSynthetic(DatasetSection d, Action<string>? log)
    {
        var root = Path.GetFullPath(d.Root);
        var g = d.Generate;
        // An empty folder is replaced (it may have been made by hand); one with files is refused below.
        var options = DetectionTask.GeneratorOptions(d, masks: true);
        if (File.Exists(Path.Combine(root, "segmentation", "val.txt")))
        {
            DetectionTask.RequireSameGeneration(root, options);
            return root;
        }
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
            throw new SlimException($"dataset.root {root} holds data without label maps (no segmentation/val.txt), generated for a detector or by hand; " +
                                    "give a segmentation recipe its own root, or delete the folder to generate it again with label maps");
        log?.Invoke($"generating {g.TrainImages + g.ValImages} synthetic images with label maps into {root}");
        SyntheticDetectionGenerator.Generate(options, log);
        return root;
    }

    /// <inheritdoc/>
    public ITask WithValidationLimit(int images) =>
        new SegmentationTask(_recipe, Train, images > 0 && images < Val.Samples.Count ? new SegmentationDataset(Val.Source, Val.ClassNames, Val.Samples.Take(images).ToList()) : Val,
            ClassNames, _mean, _std);

    /// <inheritdoc/>
    public ITask WithNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std) =>
        new SegmentationTask(_recipe, Train, Val, ClassNames, InputRenormalization.PerChannel(mean, 3), InputRenormalization.PerChannel(std, 3));

    /// <summary>The model options of the recipe, with the dataset's class count.</summary>
    public ModelOptions ModelOptions(ModelSection? model = null)
    {
        var m = model ?? _recipe.Model;
        return new ModelOptions { NumClasses = NumClasses, Width = m.Width, InputSize = m.InputSize, InChannels = 3, Layout = m.Layout ?? PretrainedWeights.Layout(m) };
    }

    /// <summary>A freshly initialised segmenter of the recipe's architecture (seeded by the recipe's seed).</summary>
    public nn.Module CreateModel(ModelSection? model = null)
    {
        var m = model ?? _recipe.Model;
        if (!Family.Architectures.Contains(m.Name))
            throw new SlimException($"model.name '{m.Name}' is not a segmenter; segmentation recipes need one of {string.Join(", ", Family.Architectures)}");
        manual_seed(_recipe.Seed);
        return ModelRegistry.CreateSegmenter(m.Name, ModelOptions(m));
    }

    /// <summary>Checkpoint metadata that rebuilds the model (architecture, options, classes, normalization).</summary>
    public Dictionary<string, string> Metadata(string architecture, ModelOptions options)
    {
        var meta = options.ToMetadata(architecture);
        meta[ExportModelInfo.ClassNamesKey] = string.Join("\n", ClassNames);
        foreach (var (k, v) in ExportModelInfo.NormalizationMetadata(_mean, _std)) meta[k] = v;
        return meta;
    }

    private SegmentationLoaderOptions LoaderOptions(int batchSize, bool train, int seed) => new()
    {
        BatchSize = batchSize,
        Train = train,
        Seed = seed,
        ImageSize = InputSize,
        Mean = _mean,
        Std = _std,
        RandomFlip = train && _recipe.Train.Augment,
        Workers = _recipe.Dataset.Workers,
        NumClasses = NumClasses,
        IgnoreIndex = SegmentationFamily.IgnoreIndex,
    };

    /// <summary>Training batches from a given iteration on; batch i depends only on the seed, the offset and i.</summary>
    public Func<long, IEnumerable<IImageBatch>> TrainBatches(int batchSize, int seedOffset = 0, DataShard? shard = null)
    {
        if (Train.Samples.Count < batchSize)
            throw new SlimException($"the training set has {Train.Samples.Count} images, fewer than one batch of {batchSize} (train.batch_size)");
        var loader = new SegmentationLoader(Train, LoaderOptions(batchSize, true, (int)_recipe.Seed + seedOffset) with { Shard = shard });
        int perEpoch = loader.BatchesPerEpoch;
        return from => BatchStream.From((e, start) => loader.GetEpoch(e, start), perEpoch, from);
    }

    /// <summary>The per-pixel cross-entropy of a segmenter on a batch, averaged over the pixels not labelled 255.</summary>
    public Func<IImageBatch, LossParts> Loss(nn.Module model)
    {
        var segmenter = model as nn.Module<Tensor, Tensor> ?? throw new SlimException($"a {model.TypeName} is not a segmenter");
        return b => new LossParts(F.cross_entropy(segmenter.call(b.Images), ((SegmentationBatch)b).Labels, ignore_index: SegmentationFamily.IgnoreIndex),
            new Dictionary<string, Tensor>());
    }

    /// <summary>The validation images in order, in batches (no augmentation); dispose each.</summary>
    public IEnumerable<SegmentationBatch> ValBatches(int batchSize = 8) =>
        new SegmentationLoader(Val, LoaderOptions(batchSize, false, 0)).GetEpoch(0);

    TaskScore ITask.Evaluate(nn.Module model) => Evaluate(x => Family.Forward(model, x)[0]);

    /// <summary>mIoU of a forward (images → [N, classes, H, W] logits) on the validation images, without gradients.</summary>
    public SegmentationScore Evaluate(Func<Tensor, Tensor> forward)
    {
        var matrix = new ConfusionMatrix(NumClasses, SegmentationFamily.IgnoreIndex);
        using (no_grad())
            foreach (var batch in ValBatches())
                using (batch)
                using (NewDisposeScope())
                {
                    var logits = forward(batch.Images);
                    CheckLogits(logits.shape, batch);
                    Add(matrix, batch.Labels.data<long>(), logits.argmax(1).data<long>());
                }
        return Score(matrix);
    }

    TaskScore ITask.EvaluateOnnx(string onnxPath, int threads) => EvaluateOnnx(onnxPath, threads);

    /// <summary>mIoU of an exported segmenter in ONNX Runtime on the same images (its class_ids output, or the argmax of its logits).</summary>
    public SegmentationScore EvaluateOnnx(string onnxPath, int threads)
    {
        var runner = OrtRunner.Create();
        var matrix = new ConfusionMatrix(NumClasses, SegmentationFamily.IgnoreIndex);
        foreach (var chunk in ValBatches().Chunk(OrtRunner.InputSetsPerCall))
        {
            var feeds = new List<IReadOnlyDictionary<string, OrtTensor>>();
            var truths = new List<long[]>();
            foreach (var batch in chunk)
                using (batch)
                {
                    feeds.Add(new Dictionary<string, OrtTensor> { [SegmentationFamily.InputName] = OrtTensor.FromTensor(batch.Images) });
                    truths.Add(batch.Labels.data<long>().ToArray());
                }
            var outputs = runner.Run(onnxPath, feeds, threads);
            for (int i = 0; i < outputs.Count; i++) Add(matrix, truths[i], ClassIds(onnxPath, outputs[i], truths[i].Length));
        }
        return Score(matrix);
    }

    /// <summary>The per-pixel classes of one ONNX Runtime result: the class_ids output, or the argmax over axis 1 of logits.</summary>
    private long[] ClassIds(string onnxPath, IReadOnlyDictionary<string, OrtTensor> o, int pixels)
    {
        if (o.TryGetValue(SegmentationFamily.ClassIdsName, out var ids))
        {
            if (ids.ElementType != OrtElementType.Int64 || ids.Shape.Length != 3 || ids.Data.Length != pixels)
                throw new SlimException($"{onnxPath}: output {SegmentationFamily.ClassIdsName} is {ids}; expected int64 [N, {InputSize}, {InputSize}]");
            return (long[])ids.Data;
        }
        if (!o.TryGetValue(SegmentationFamily.LogitsName, out var logits))
            throw new SlimException($"{onnxPath}: ONNX Runtime returned neither '{SegmentationFamily.ClassIdsName}' nor '{SegmentationFamily.LogitsName}' (outputs: {string.Join(", ", o.Keys)}); export the segmenter with slim export");
        if (logits.Shape.Length != 4 || logits.Shape[1] != NumClasses || logits.Shape[0] * logits.Shape[2] * logits.Shape[3] != pixels)
            throw new SlimException($"{onnxPath}: output {SegmentationFamily.LogitsName} is [{string.Join(", ", logits.Shape)}]; expected [N, {NumClasses}, {InputSize}, {InputSize}]");
        var values = logits.ToFloatArray();
        long n = logits.Shape[0], c = logits.Shape[1], plane = logits.Shape[2] * logits.Shape[3];
        var result = new long[n * plane];
        for (long b = 0; b < n; b++)
            for (long p = 0; p < plane; p++)
            {
                long best = 0, at = b * c * plane + p;
                for (long k = 1; k < c; k++)
                    if (values[at + k * plane] > values[at + best * plane]) best = k;
                result[b * plane + p] = best;
            }
        return result;
    }

    private void CheckLogits(long[] shape, SegmentationBatch batch)
    {
        var images = batch.Images.shape;
        if (shape.Length != 4 || shape[0] != images[0] || shape[1] != NumClasses || shape[2] != images[2] || shape[3] != images[3])
            throw new SlimException($"the segmenter returned logits of shape [{string.Join(", ", shape)}] for images [{string.Join(", ", images)}]; expected [{images[0]}, {NumClasses}, {images[2]}, {images[3]}]");
    }

    private static void Add(ConfusionMatrix matrix, ReadOnlySpan<long> truth, ReadOnlySpan<long> predicted)
    {
        var t = new byte[truth.Length];
        var p = new byte[predicted.Length];
        for (int i = 0; i < t.Length; i++)
        {
            t[i] = (byte)truth[i];
            p[i] = (byte)predicted[i];
        }
        matrix.Add(t, p);
    }

    private SegmentationScore Score(ConfusionMatrix matrix)
    {
        var scores = matrix.Scores();
        return new SegmentationScore(scores, Val.Samples.Count, ClassNames);
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, OrtTensor> OnnxInputs(string onnxPath, Tensor images) =>
        new Dictionary<string, OrtTensor> { [SegmentationFamily.InputName] = OrtTensor.FromTensor(images) };

    /// <summary>Calibration images: the first batches of training epoch 0 without flips, in dataset order of that epoch.</summary>
    public IEnumerable<Tensor> CalibrationImages(int batches, int batchSize, Action<string>? log = null)
    {
        var loader = new SegmentationLoader(Train, LoaderOptions(batchSize, true, (int)_recipe.Seed) with { RandomFlip = false });
        int n = Math.Min(batches, loader.BatchesPerEpoch);
        if (n == 0) throw new SlimException($"no calibration data: the training set has {Train.Samples.Count} images, fewer than one batch of {batchSize} (train.batch_size)");
        if (n < batches) log?.Invoke($"calibration: the training set has {loader.BatchesPerEpoch} batches of {batchSize}; calibrating on {n} instead of {batches}");
        return Images(loader, n);
    }

    private static IEnumerable<Tensor> Images(SegmentationLoader loader, int n)
    {
        int i = 0;
        foreach (var batch in loader.GetEpoch(0))
        {
            using (batch) yield return batch.Images;
            if (++i >= n) yield break;
        }
    }

    /// <summary>One validation image as a batch of 1.</summary>
    public Tensor SampleInput()
    {
        using var batch = new SegmentationLoader(Val, LoaderOptions(1, false, 0)).GetEpoch(0).First();
        return batch.Images.clone();
    }
}

/// <summary>mIoU of one evaluation, with the per-class IoU table.</summary>
public sealed class SegmentationScore(SegmentationScores scores, int images, IReadOnlyList<string> classNames)
    : TaskScore(scores.MeanIou, IouTable.Summary(scores, images, withMeanIou: false), [IouTable.PerClass(scores, classNames)])
{
    /// <summary>IoU, accuracy and kappa as the confusion matrix gives them.</summary>
    public SegmentationScores Scores { get; } = scores;
}
