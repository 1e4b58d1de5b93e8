using Slim.Data;
using Slim.Detection;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Tasks.Detection;
using Slim.Torch;
using Slim.Training;
using static Slim.Torch.torch;

namespace Slim.Tasks.Ssd;

/// <summary>
/// An SSD recipe bound to its data: the detection data, loaders and AP of <see cref="DetectionTask"/> (COCO, VOC or
/// the offline sample data), with SSD's multibox loss (<see cref="SsdLoss"/>) and decoding (<see cref="SsdDecoder"/>).
/// </summary>
public sealed class SsdTask : ITask
{
    private readonly DetectionTask _data;
    private readonly float[] _priors;

    private SsdTask(DetectionTask data)
    {
        _data = data;
        _priors = Priors(data.Recipe.Model.Name, data.ModelOptions());
    }

    /// <summary>Loads (generating first, for synthetic data) the recipe's train and validation sets.</summary>
    public static SsdTask Create(Recipe recipe, Action<string>? log = null, int? valLimit = null)
    {
        if (ModelRegistry.Contains(recipe.Model.Name) && ModelRegistry.TaskOf(recipe.Model.Name) != ModelTask.Ssd)
            throw new SlimException($"model.name '{recipe.Model.Name}' is not an SSD detector; use one of {string.Join(", ", ModelRegistry.NamesOf(ModelTask.Ssd))}");
        return new SsdTask(DetectionTask.Create(recipe, log, valLimit));
    }

    /// <summary>The priors of an architecture at the options' input size ([P·4], normalized x1, y1, x2, y2), from its feature map sizes.</summary>
    public static float[] Priors(string architecture, ModelOptions options)
    {
        var settings = SsdPriorOptions.ForInput(options.InputSize);
        var maps = new List<(int, int)>();
        // The map sizes of one forward of an input of that size (cheap next to training; the model is rebuilt unpruned).
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.CreateSsd(architecture, options with { ChannelOverrides = new Dictionary<string, int>() });
        model.eval();
        using (no_grad())
            foreach (var m in model.Features(zeros(1, options.InChannels, options.InputSize, options.InputSize)))
                maps.Add(((int)m.shape[2], (int)m.shape[3]));
        return SsdPriorBoxes.Generate(settings, maps, options.InputSize, options.InputSize);
    }

    public TaskFamily Family => SsdFamily.Instance;
    public Recipe Recipe => _data.Recipe;
    public string MetricName => _data.MetricName;
    public int NumClasses => _data.NumClasses;
    public IReadOnlyList<string> ClassNames => _data.ClassNames;
    public int InputSize => _data.InputSize;
    public IReadOnlyList<float> Mean => _data.Mean;
    public IReadOnlyList<float> Std => _data.Std;
    public int ValImageCount => _data.ValImageCount;
    public int TrainImageCount => _data.TrainImageCount;
    public string TrainSource => _data.TrainSource;

    /// <summary>The priors of the recipe's model, [P·4].</summary>
    public IReadOnlyList<float> PriorBoxes => _priors;

    public IReadOnlyList<string> DataSummary() => _data.DataSummary();
    public ModelOptions ModelOptions(ModelSection? model = null) => _data.ModelOptions(model);

    public nn.Module CreateModel(ModelSection? model = null)
    {
        var m = model ?? Recipe.Model;
        if (!Family.Architectures.Contains(m.Name))
            throw new SlimException($"model.name '{m.Name}' is not an SSD detector; SSD recipes need one of {string.Join(", ", Family.Architectures)}");
        manual_seed(Recipe.Seed);
        return ModelRegistry.CreateSsd(m.Name, ModelOptions(m));
    }

    public Dictionary<string, string> Metadata(string architecture, ModelOptions options) => _data.Metadata(architecture, options);

    public Func<long, IEnumerable<IImageBatch>> TrainBatches(int batchSize, int seedOffset = 0, DataShard? shard = null) => _data.TrainBatches(batchSize, seedOffset, shard);

    /// <summary>The multibox loss: every image's boxes matched to the priors, smooth L1 on the positives' deltas, cross-entropy on positives and 3:1 hard negatives.</summary>
    public Func<IImageBatch, LossParts> Loss(nn.Module model)
    {
        var ssd = model as nn.Module<Tensor, Tensor[]> ?? throw new SlimException($"a {model.TypeName} is not an SSD detector");
        return b =>
        {
            var batch = (DetectionBatch)b;
            var outputs = ssd.call(batch.Images);
            var targets = Targets(batch);
            var (total, loc, conf) = SsdLoss.Compute(outputs[0], outputs[1], targets);
            return new LossParts(total, new Dictionary<string, Tensor> { ["loc"] = loc, ["conf"] = conf });
        };
    }

    // The batch's boxes (normalized centre, size; padding rows weigh 0) as corners, matched per image.
    private List<SsdTargets> Targets(DetectionBatch batch)
    {
        var boxes = batch.GtBoxes.data<float>().ToArray();
        var classes = batch.GtClasses.data<long>().ToArray();
        var weights = batch.GtScores.data<float>().ToArray();
        int n = batch.Count, m = (int)batch.GtBoxes.shape[1];
        var result = new List<SsdTargets>(n);
        for (int i = 0; i < n; i++)
        {
            var corners = new List<float>();
            var labels = new List<long>();
            for (int j = 0; j < m; j++)
            {
                int k = i * m + j;
                if (weights[k] <= 0) continue;
                float cx = boxes[k * 4], cy = boxes[k * 4 + 1], w = boxes[k * 4 + 2], h = boxes[k * 4 + 3];
                if (w <= 0 || h <= 0) continue;
                corners.AddRange([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]);
                labels.Add(classes[k]);
            }
            result.Add(SsdLoss.Match(_priors, corners.ToArray(), labels.ToArray(), NumClasses));
        }
        return result;
    }

    private SsdDecoder Decoder() => new(_priors, NumClasses);

    TaskScore ITask.Evaluate(nn.Module model) => Evaluate(x => Family.Forward(model, x).ToArray());

    /// <summary>AP of an SSD forward (images → deltas, logits) on the validation images.</summary>
    public DetectionScore Evaluate(Func<Tensor, Tensor[]> forward)
    {
        var decoder = Decoder();
        var dets = new List<DetectedBox>();
        using (no_grad())
            foreach (var batch in _data.ValBatches())
                using (batch)
                using (NewDisposeScope())
                {
                    var outs = forward(batch.Images);
                    dets.AddRange(Decode(decoder, outs[0].data<float>().ToArray(), outs[1].data<float>().ToArray(), batch.Infos));
                }
        return _data.Score(dets);
    }

    private IEnumerable<DetectedBox> Decode(SsdDecoder decoder, float[] deltas, float[] logits, IReadOnlyList<ImageInfo> infos)
    {
        int p = decoder.Priors, c1 = NumClasses + 1;
        if (deltas.Length != infos.Count * p * 4 || logits.Length != infos.Count * p * c1)
            throw new SlimException($"the SSD model gave {deltas.Length} delta and {logits.Length} logit values for {infos.Count} images of {p} priors and {c1} classes");
        for (int i = 0; i < infos.Count; i++)
            foreach (var d in decoder.Decode(infos[i].ImageId, deltas.AsSpan(i * p * 4, p * 4), logits.AsSpan(i * p * c1, p * c1), infos[i].OriginalWidth, infos[i].OriginalHeight))
                yield return d;
    }

    TaskScore ITask.EvaluateOnnx(string onnxPath, int threads) => EvaluateOnnx(onnxPath, threads);

    /// <summary>AP of an exported SSD in ONNX Runtime on the same images, decoded as in libtorch.</summary>
    public DetectionScore EvaluateOnnx(string onnxPath, int threads)
    {
        var runner = OrtRunner.Create();
        var decoder = Decoder();
        // A file with the decoding and NMS in the graph takes scale factors and returns detections.
        var detector = OnnxDetector.Open(onnxPath, SsdFamily.InputName);
        var dets = new List<DetectedBox>();
        foreach (var chunk in _data.ValBatches().Chunk(OrtRunner.InputSetsPerCall))
        {
            var infos = new List<IReadOnlyList<ImageInfo>>();
            var feeds = new List<IReadOnlyDictionary<string, OrtTensor>>();
            foreach (var batch in chunk)
                using (batch)
                {
                    infos.Add(batch.Infos);
                    feeds.Add(detector.Inputs(batch.Images, batch.Infos));
                }
            var results = runner.Run(onnxPath, feeds, threads);
            for (int i = 0; i < results.Count; i++)
            {
                if (detector.HasPostprocess)
                {
                    foreach (var perImage in detector.Detections(results[i], infos[i], null)) dets.AddRange(perImage);
                    continue;
                }
                if (!results[i].TryGetValue(SsdFamily.OutputNames[0], out var deltas) || !results[i].TryGetValue(SsdFamily.OutputNames[1], out var logits))
                    throw new SlimException($"{onnxPath}: ONNX Runtime returned {string.Join(", ", results[i].Keys)}; an SSD export has {string.Join(" and ", SsdFamily.OutputNames)} (slim export)");
                dets.AddRange(Decode(decoder, deltas.ToFloatArray(), logits.ToFloatArray(), infos[i]));
            }
        }
        return _data.Score(dets);
    }

    public IReadOnlyDictionary<string, OrtTensor> OnnxInputs(string onnxPath, Tensor images) =>
        OnnxDetector.Open(onnxPath, SsdFamily.InputName).Inputs(images, null);

    public IEnumerable<Tensor> CalibrationImages(int batches, int batchSize, Action<string>? log = null) => _data.CalibrationImages(batches, batchSize, log);

    public Tensor SampleInput() => _data.SampleInput();

    public ITask WithValidationLimit(int images) => new SsdTask((DetectionTask)_data.WithValidationLimit(images));

    /// <inheritdoc/>
    public ITask WithNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std) => new SsdTask((DetectionTask)_data.WithNormalization(mean, std));
}
