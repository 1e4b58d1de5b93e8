using Slim.Data;
using Slim.Data.Transforms;
using Slim.Detection;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;
using Slim.Training;
using static Slim.Torch.torch;

namespace Slim.Tasks.Detection;

/// <summary>
/// Everything a detection recipe needs besides the model: the datasets (generated offline
/// when the recipe asks for synthetic data), batch loaders, the YOLOv3 loss, and AP
/// evaluation of a model in libtorch or of an exported model in ONNX Runtime.
/// </summary>
public sealed class DetectionTask : ITask
{
    private readonly Recipe _recipe;
    private readonly IReadOnlyList<GroundTruthBox> _valTruth;
    private readonly IReadOnlyList<DetectionSample> _valSamples;

    private readonly float[] _mean;
    private readonly float[] _std;

    private DetectionTask(Recipe recipe, DetectionDataset train, DetectionDataset val, int valLimit, float[] mean, float[] std)
    {
        _recipe = recipe;
        (_mean, _std) = (mean, std);
        Train = train;
        Val = val;
        _valSamples = valLimit > 0 ? val.Samples.Take(valLimit).ToList() : val.Samples;
        _valTruth = _valSamples.SelectMany(s => s.Boxes.Select(b =>
            new GroundTruthBox(s.ImageId, b.ClassIndex, b.X1, b.Y1, b.X2, b.Y2, b.IsCrowd, b.IsDifficult, b.Area))).ToList();
        NumClasses = recipe.Model.NumClasses > 0 ? recipe.Model.NumClasses : train.ClassNames.Count;
        if (NumClasses < train.ClassNames.Count)
            throw new SlimException($"model.num_classes is {recipe.Model.NumClasses} but the dataset has {train.ClassNames.Count} classes ({string.Join(", ", train.ClassNames.Take(5))}…)");
        Geometry = new YoloGeometry { NumClasses = NumClasses };
    }

    public DetectionDataset Train { get; }
    public DetectionDataset Val { get; }
    public int NumClasses { get; }
    public YoloGeometry Geometry { get; }
    public IReadOnlyList<string> ClassNames => Train.ClassNames;
    public int InputSize => _recipe.Model.InputSize;
    public int ValImageCount => _valSamples.Count;
    public int TrainImageCount => Train.Samples.Count;
    public IReadOnlyList<float> Mean => _mean;
    public IReadOnlyList<float> Std => _std;
    public string TrainSource => Train.Source;

    public IReadOnlyList<string> DataSummary() => [Data.DataSummary.Describe("train", Train), Data.DataSummary.Describe("val", Val)];
    public TaskFamily Family => DetectionFamily.Instance;
    public Recipe Recipe => _recipe;

    /// <inheritdoc/>
    public ITask WithValidationLimit(int images) => new DetectionTask(_recipe, Train, Val, _valSamples.Count == 0 ? images : Math.Min(images, _valSamples.Count), _mean, _std);

    /// <inheritdoc/>
    public ITask WithNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std) => new DetectionTask(_recipe, Train, Val, _valSamples.Count, InputRenormalization.PerChannel(mean, 3), InputRenormalization.PerChannel(std, 3));

    /// <summary>Loads (generating first, for synthetic data) the recipe's train and validation sets.</summary>
    public static DetectionTask Create(Recipe recipe, Action<string>? log = null, int? valLimit = null)
    {
        var d = recipe.Dataset;
        DetectionDataset train, val;
        switch (d.Format)
        {
            case DatasetFormat.Synthetic:
            {
                var gen = EnsureSynthetic(d, log);
                train = CocoDataset.Load(Path.Combine(gen, "coco", "annotations", "instances_train.json"), Path.Combine(gen, "coco", "images"), log);
                val = CocoDataset.Load(Path.Combine(gen, "coco", "annotations", "instances_val.json"), Path.Combine(gen, "coco", "images"), log);
                break;
            }
            case DatasetFormat.Coco:
                train = CocoDataset.Load(Path.Combine(d.Root, d.TrainAnnotations), Path.Combine(d.Root, d.TrainImages), log);
                val = CocoDataset.Load(Path.Combine(d.Root, d.ValAnnotations), Path.Combine(d.Root, d.ValImages), log);
                break;
            case DatasetFormat.Voc:
            {
                var labels = Path.Combine(d.Root, d.LabelList);
                // The default name may be absent (the 20 VOC classes then); a file the recipe names must exist.
                string? labelFile = File.Exists(labels) ? labels
                    : d.LabelList == new DatasetSection().LabelList ? null
                    : throw new SlimException($"dataset.label_list: {labels} does not exist; give a file with one class name per line, or drop the key for the 20 VOC classes");
                train = VocDataset.Load(d.Root, Path.GetFileNameWithoutExtension(d.TrainList), labelFile, log);
                val = VocDataset.Load(d.Root, Path.GetFileNameWithoutExtension(d.ValList), labelFile, log);
                break;
            }
            default:
                throw new SlimException($"dataset.format {RecipeBinder.EnumName(typeof(DatasetFormat), d.Format)} is not a detection dataset (use coco, voc or synthetic with a yolov3_* model)");
        }
        if (!train.ClassNames.SequenceEqual(val.ClassNames))
            throw new SlimException("the training and validation sets name different classes");
        if (d.TrainSubset > 0 && d.TrainSubset < train.Samples.Count)
            train = new DetectionDataset(train.Source, train.ClassNames, train.Samples.Take(d.TrainSubset).ToList(), train.CategoryIds, train.Report);
        if (ModelRegistry.Contains(recipe.Model.Name) && ModelRegistry.TaskOf(recipe.Model.Name) is not (ModelTask.Detection or ModelTask.Ssd))
            throw new SlimException($"model.name '{recipe.Model.Name}' is not a detector; {RecipeBinder.EnumName(typeof(DatasetFormat), d.Format)} data needs a yolov3_* or ssdlite_* model");
        // Every image file must exist and be of its annotated size before any work: a missing validation image would
        // otherwise surface only when the first evaluation reads it, after training.
        train = train.Validate(log: log, sizesMustMatch: false);
        val = val.Validate();
        // The starting weights (model.checkpoint, else model.pretrained) expect their own input statistics (ImageNet's
        // otherwise): training, the checkpoints' metadata, export and inference then all use them.
        var (mean, std) = (DetectionTransforms.ImageNetMean.ToArray(), DetectionTransforms.ImageNetStd.ToArray());
        if (PretrainedWeights.Normalization(recipe.Model) is { } pretrained && pretrained.Mean.Length == 3 && pretrained.Std.Length == 3
            && !(pretrained.Mean.SequenceEqual(mean) && pretrained.Std.SequenceEqual(std)))
        {
            (mean, std) = (pretrained.Mean, pretrained.Std);
            log?.Invoke(PretrainedWeights.DescribeNormalization(recipe.Model, mean, std));
        }
        return new DetectionTask(recipe, train, val, valLimit ?? d.ValSubset, mean, std);
    }

    /// <summary>Generates the synthetic dataset into dataset.root unless it is already there; returns the folder.</summary>
    public static string EnsureSynthetic(DatasetSection d, Action<string>? log)
    {
        var root = Path.GetFullPath(d.Root);
        var g = d.Generate;
        var options = GeneratorOptions(d, masks: false);
        if (File.Exists(Path.Combine(root, "coco", "annotations", "instances_val.json")))
        {
            RequireSameGeneration(root, options);
            return root;
        }
        log?.Invoke($"generating {g.TrainImages + g.ValImages} synthetic images into {root}");
        SyntheticDetectionGenerator.Generate(options, log);
        return root;
    }

    /// <summary>The generator settings of a recipe's dataset.generate, into dataset.root (with label PNGs when <paramref name="masks"/>).</summary>
    public static SyntheticDetectionOptions GeneratorOptions(DatasetSection d, bool masks)
    {
        var g = d.Generate;
        return new SyntheticDetectionOptions
        {
            OutputDir = Path.GetFullPath(d.Root),
            Seed = (int)g.Seed,
            ImageCount = g.TrainImages + g.ValImages,
            ValFraction = (double)g.ValImages / (g.TrainImages + g.ValImages),
            ImageSize = g.ImageSize,
            MinObjects = g.MinObjects,
            MaxObjects = g.MaxObjects,
            Masks = masks,
            Overwrite = masks && Directory.Exists(d.Root),
        };
    }

    /// <summary>Refuses generated data whose settings differ from the recipe's dataset.generate (it would be used silently otherwise).</summary>
    public static void RequireSameGeneration(string root, SyntheticDetectionOptions options)
    {
        var differences = SyntheticDetectionGenerator.Differences(root, options);
        if (differences.Count > 0)
            throw new SlimException($"dataset.generate: {root} holds data generated with other settings ({string.Join("; ", differences)}); " +
                                    "delete the folder to generate it anew, or give dataset.root another folder");
    }

    /// <summary>The model options of the recipe, with the dataset's class count.</summary>
    public ModelOptions ModelOptions(ModelSection? model = null)
    {
        var m = model ?? _recipe.Model;
        if (m.InChannels is not (0 or 3))
            throw new SlimException($"model.in_channels is {m.InChannels}; detectors take RGB images: set 3 or 0");
        return new ModelOptions { NumClasses = NumClasses, Width = m.Width, InputSize = m.InputSize, Layout = m.Layout ?? PretrainedWeights.Layout(m) };
    }

    /// <summary>A freshly initialised detector of the recipe's architecture (seeded).</summary>
    torch.nn.Module ITask.CreateModel(ModelSection? model) => CreateModel(model);

    public YoloV3 CreateModel(ModelSection? model = null)
    {
        var m = model ?? _recipe.Model;
        if (ModelRegistry.TaskOf(m.Name) != ModelTask.Detection)
            throw new SlimException($"model.name '{m.Name}' is a classifier; detection recipes need a yolov3_* model");
        manual_seed(_recipe.Seed);
        return ModelRegistry.CreateDetector(m.Name, ModelOptions(m));
    }

    /// <summary>Checkpoint metadata that rebuilds the model (architecture, options, classes).</summary>
    public Dictionary<string, string> Metadata(string architecture, ModelOptions options)
    {
        var meta = options.ToMetadata(architecture);
        meta["dataset.class_names"] = string.Join("\n", ClassNames);
        foreach (var (k, v) in ExportModelInfo.NormalizationMetadata(_mean, _std)) meta[k] = v;
        return meta;
    }

    /// <summary>Training batches from a given iteration on; batch i depends only on the seed and i.</summary>
    public Func<long, IEnumerable<IImageBatch>> TrainBatches(int batchSize, int seedOffset = 0, DataShard? shard = null)
    {
        var sizes = _recipe.Train.MultiScale.Count > 0 ? (IReadOnlyList<int>)_recipe.Train.MultiScale : new[] { InputSize };
        var loader = new DetectionLoader(Train, new DetectionLoaderOptions
        {
            BatchSize = batchSize,
            InputSizes = sizes,
            Train = true,
            Seed = (int)_recipe.Seed + seedOffset,
            Shard = shard,
            Workers = _recipe.Dataset.Workers,
            Mean = _mean,
            Std = _std,
            SampleTransforms = _recipe.Train.Augment ? null : Array.Empty<Slim.Data.Transforms.IDetectionTransform>(),
        });
        int perEpoch = loader.BatchesPerEpoch;
        if (perEpoch == 0) throw new SlimException($"the training set has {Train.Samples.Count} images, fewer than one batch of {batchSize}");
        return from => BatchStream.From((e, start) => loader.GetEpoch(e, start), perEpoch, from);
    }

    /// <summary>The YOLOv3 loss of a model on a batch, with its parts for the progress line.</summary>
    public Func<IImageBatch, LossParts> Loss(nn.Module model)
    {
        var detector = model as nn.Module<Tensor, Tensor[]> ?? throw new SlimException($"a {model.TypeName} is not a detector");
        var loss = new YoloV3Loss(new YoloV3LossOptions
        {
            Geometry = Geometry,
            IgnoreThreshold = _recipe.Train.IgnoreThresh,
            LabelSmooth = _recipe.Train.LabelSmooth,
        });
        return b =>
        {
            var batch = (DetectionBatch)b;
            var outputs = detector.call(batch.Images);
            var r = loss.Compute(outputs, batch);
            return new LossParts(r.Total, new Dictionary<string, Tensor> { ["xy"] = r.Xy, ["wh"] = r.Wh, ["obj"] = r.Obj, ["cls"] = r.Cls });
        };
    }

    /// <summary>The validation images in order, in batches of the input size (no augmentation); dispose each.</summary>
    public IEnumerable<DetectionBatch> ValBatches(int batchSize = 8) => EvalLoader(batchSize).GetEpoch(0);

    private DetectionLoader EvalLoader(int batchSize = 8) => new(new DetectionDataset(Val.Source, Val.ClassNames, _valSamples, Val.CategoryIds, Val.Report),
        new DetectionLoaderOptions { BatchSize = batchSize, InputSizes = new[] { InputSize }, Train = false, Seed = 0, Workers = _recipe.Dataset.Workers, Mean = _mean, Std = _std });

    private YoloBoxDecoder Decoder() => new(new YoloBoxDecoderOptions { Geometry = Geometry });

    TaskScore ITask.Evaluate(nn.Module model) => Evaluate(x => Family.Forward(model, x).ToArray());

    TaskScore ITask.EvaluateOnnx(string onnxPath, int threads) => EvaluateOnnx(onnxPath, threads);

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, OrtTensor> OnnxInputs(string onnxPath, Tensor images) =>
        OnnxDetector.Open(onnxPath, DetectionFamily.InputName).Inputs(images, null);

    /// <summary>AP of a detector on the validation images, in libtorch.</summary>
    public DetectionScore Evaluate(Func<Tensor, Tensor[]> forward) => Score(Detect(forward));

    /// <summary>The detections of a detector on the validation images, in libtorch, decoded by <paramref name="decoder"/> (the task's by default).</summary>
    public List<DetectedBox> Detect(Func<Tensor, Tensor[]> forward, YoloBoxDecoder? decoder = null)
    {
        decoder ??= Decoder();
        var dets = new List<DetectedBox>();
        using (no_grad())
            foreach (var batch in EvalLoader().GetEpoch(0))
                using (batch)
                using (NewDisposeScope())
                {
                    var outs = forward(batch.Images);
                    foreach (var perImage in decoder.Decode(outs, batch.Infos)) dets.AddRange(perImage);
                }
        return dets;
    }

    /// <summary>AP of an exported ONNX model on the validation images, in ONNX Runtime (one process for all batches).</summary>
    public DetectionScore EvaluateOnnx(string onnxPath, int threads, string inputName = DetectionFamily.InputName) =>
        Score(DetectOnnx(onnxPath, threads, inputName));

    /// <summary>The detections of an exported ONNX model on the validation images, in ONNX Runtime, decoded by <paramref name="decoder"/> (the task's by default).</summary>
    public List<DetectedBox> DetectOnnx(string onnxPath, int threads, string inputName = DetectionFamily.InputName, YoloBoxDecoder? decoder = null)
    {
        var runner = OrtRunner.Create();
        var model = OnnxDetector.Open(onnxPath, inputName);
        decoder ??= Decoder();
        var dets = new List<DetectedBox>();
        // A chunk of batches per ONNX Runtime call: one session load per chunk, memory bounded whatever the data size.
        foreach (var chunk in EvalLoader().GetEpoch(0).Chunk(OrtRunner.InputSetsPerCall))
        {
            var batches = new List<(IReadOnlyList<ImageInfo> infos, IReadOnlyDictionary<string, OrtTensor> input)>();
            foreach (var batch in chunk)
                using (batch)
                    batches.Add((batch.Infos, model.Inputs(batch.Images, batch.Infos)));
            var results = runner.Run(onnxPath, batches.Select(b => b.input).ToList(), threads);
            for (int i = 0; i < batches.Count; i++)
                foreach (var perImage in model.Detections(results[i], batches[i].infos, decoder)) dets.AddRange(perImage);
        }
        return dets;
    }

    /// <summary>
    /// Up to <paramref name="batches"/> full batches of training images in evaluation transforms
    /// (resize only, dataset order). Only full batches: the avg algorithm averages per-batch
    /// maxima, which a short last batch would bias.
    /// </summary>
    public IEnumerable<Tensor> CalibrationImages(int batches, int batchSize, Action<string>? log = null)
    {
        int full = Train.Samples.Count / batchSize;
        if (full == 0)
            throw new SlimException($"no calibration data: the training set ({Train.Source}) has {Train.Samples.Count} images, fewer than one batch of {batchSize} (train.batch_size); lower train.batch_size or add training images");
        int count = Math.Min(batches, full);
        if (count < batches)
            log?.Invoke($"calibration: the training set has {full} batches of {batchSize}; calibrating on {count} instead of {batches}");
        var loader = new DetectionLoader(Train, new DetectionLoaderOptions
        {
            BatchSize = batchSize,
            InputSizes = new[] { InputSize },
            Train = false,
            Seed = 0,
            Workers = _recipe.Dataset.Workers,
            Mean = _mean,
            Std = _std,
        });
        return Images(loader, count);
    }

    private static IEnumerable<Tensor> Images(DetectionLoader loader, int count)
    {
        foreach (var batch in loader.GetEpoch(0).Take(count))
            using (batch)
                yield return batch.Images;
    }

    /// <summary>The decoding and suppression settings evaluation uses (what an in-graph export bakes in).</summary>
    public YoloBoxDecoderOptions DecoderOptions => Decoder().Options;

    /// <summary>One input of batch 1 from the validation set (for latency runs and tracing).</summary>
    public Tensor SampleInput()
    {
        using var batch = EvalLoader(1).GetBatch(0, 0);
        return batch.Images.clone();
    }

    /// <summary>VOC and COCO AP of detections on the validation images (the recipe's metric primary).</summary>
    public DetectionScore Score(List<DetectedBox> dets)
    {
        var ids = _valSamples.Select(s => s.ImageId).ToList();
        var classes = Enumerable.Range(0, NumClasses).ToList();
        var voc = VocEvaluator.Evaluate(_valTruth, dets, new VocEvaluatorOptions
        {
            Method = _recipe.Train.Metric == MetricKind.Voc11Point ? VocApMethod.ElevenPoint : VocApMethod.Area,
        });
        var coco = CocoEvaluator.Evaluate(_valTruth, dets, ids, classes);
        double primary = _recipe.Train.Metric == MetricKind.Coco ? coco.AP : voc.MeanAp;
        return new DetectionScore(primary, voc, coco, dets.Count, ids.Count, ClassNames);
    }

    /// <summary>The metric's name as reports print it.</summary>
    public string MetricName => _recipe.Train.Metric switch
    {
        MetricKind.Coco => "COCO mAP@[.5:.95]",
        MetricKind.Voc11Point => "VOC mAP@0.5 (11-point)",
        _ => "VOC mAP@0.5",
    };
}

/// <summary>AP of one evaluation: the recipe's metric plus both evaluators' details (the VOC per-class and COCO tables).</summary>
public sealed class DetectionScore(double primary, VocEvaluation voc, CocoEvaluation coco, int detections, int images, IReadOnlyList<string> classNames)
    : TaskScore(primary, $"{detections} detections on {images} images", new[]
    {
        ApTable.Voc(voc, classNames.Select((n, i) => (n, i)).ToDictionary(x => x.i, x => x.n)),
        ApTable.Coco(coco),
    })
{
    public VocEvaluation Voc { get; } = voc;
    public CocoEvaluation Coco { get; } = coco;
    public int Detections { get; } = detections;
}
