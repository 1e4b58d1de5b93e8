using Slim.Compression.Distillation;
using Slim.Data;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Tasks;

/// <summary>
/// A third model family written against the public task interface only, as a new family would be:
/// a small conv net that regresses how much of a noisy 16×16 image a bright square covers (0-0.25).
/// Data is generated from the recipe's seed; the metric is 1 − 4·MAE (1 is perfect, 0 is no better
/// than a constant far off). Nothing in Slim.Core knows this family.
/// </summary>
public sealed class ToyRegressionFamily : TaskFamily
{
    public const string Architecture = "toy_square_regressor";
    public static ToyRegressionFamily Instance { get; } = new();

    private ToyRegressionFamily() { }

    public override string Name => "toy-regression";
    public override IReadOnlyList<string> Architectures { get; } = new[] { Architecture };
    public override IReadOnlyList<string> DefaultPrunedParameters { get; } = new[] { "body.*.conv.weights" };
    public override string DefaultPrunedRatios => "0.5";

    public override (IReadOnlyList<float> Mean, IReadOnlyList<float> Std) DefaultNormalization(int channels) =>
        (Enumerable.Repeat(0f, channels).ToArray(), Enumerable.Repeat(1f, channels).ToArray());

    public override torch.nn.Module CreateModel(string architecture, ModelOptions options)
    {
        if (architecture != Architecture) throw new SlimException($"the toy family has no model '{architecture}'");
        return new ToySquareNet(options);
    }

    public override ITask CreateTask(Recipe recipe, Action<string>? log = null, int? valLimit = null) => new ToyRegressionTask(recipe, valLimit);

    public override IReadOnlyList<Tensor> Forward(torch.nn.Module model, Tensor images) =>
        new[] { ((torch.nn.Module<Tensor, Tensor>)model).call(images) };

    public override DistillationOptions Distillation(DistillSection section, ModelOptions student) => new()
    {
        Kind = DistillationKind.L2,
        Weight = section.Weight ?? 1,
        Pairs = new[] { new FeaturePair("head", "head") },
    };

    public override OnnxExportOptions ExportOptions(string architecture, ModelOptions options, ExportModelInfo info, ExportSection section) => new()
    {
        InputShape = new long[] { 3, info.InputSize, info.InputSize },
        InputName = "images",
        OutputNames = new[] { "coverage" },
        ModelName = info.ModelName,
        Mean = new[] { 0f, 0f, 0f },
        Std = new[] { 1f, 1f, 1f },
        FoldBatchNorm = true,
    };
}

/// <summary>conv-bn-relu ×2 (widths from the channel plan, so pruning rebuilds), global pooling, a linear head.</summary>
public sealed class ToySquareNet : torch.nn.Module<Tensor, Tensor>
{
    public ToySquareNet(ModelOptions options) : base("ToySquareNet")
    {
        var plan = new ChannelPlan(options.ChannelOverrides);
        int c1 = plan.Out("body.0.conv", 16), c2 = plan.Out("body.1.conv", 24);
        register_module("body", new Sequential(new ConvBN(3, c1, 3, 1), new ConvBN(c1, c2, 3, 2)));
        register_module("pool", new AdaptiveAvgPool2d(1));
        register_module("flatten", new Flatten());
        register_module("head", new Linear(c2, 1, bias: true));
        plan.EnsureAllUsed(named_modules().Where(m => m.module is Conv2d).Select(m => m.name));
    }

    public override Tensor forward(Tensor x)
    {
        var h = ((torch.nn.Module<Tensor, Tensor>)get_submodule("body")).call(x);
        h = ((torch.nn.Module<Tensor, Tensor>)get_submodule("flatten")).call(((torch.nn.Module<Tensor, Tensor>)get_submodule("pool")).call(h));
        return ((torch.nn.Module<Tensor, Tensor>)get_submodule("head")).call(h);
    }
}

/// <summary>The toy family bound to a recipe: generated images, MSE loss, 1 − 4·MAE.</summary>
public sealed class ToyRegressionTask : ITask
{
    private const int Size = 16;
    private readonly int _valCount;

    public ToyRegressionTask(Recipe recipe, int? valLimit, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        Recipe = recipe;
        _valCount = valLimit is > 0 ? Math.Min(valLimit.Value, 64) : 64;
        Mean = mean ?? new[] { 0f, 0f, 0f };
        Std = std ?? new[] { 1f, 1f, 1f };
    }

    public TaskFamily Family => ToyRegressionFamily.Instance;
    public Recipe Recipe { get; }
    public string MetricName => "1 - 4*MAE";
    public int NumClasses => 1;
    public IReadOnlyList<string> ClassNames { get; } = new[] { "coverage" };
    public int InputSize => Size;
    public IReadOnlyList<float> Mean { get; }
    public IReadOnlyList<float> Std { get; }
    public int ValImageCount => _valCount;
    public int TrainImageCount => 256;
    public string TrainSource => "generated squares";
    public IReadOnlyList<string> DataSummary() => [$"train: {TrainImageCount} generated squares", $"val: {_valCount} generated squares"];

    public ModelOptions ModelOptions(ModelSection? model = null) =>
        new() { NumClasses = 1, Width = 1, InputSize = Size, InChannels = 3 };

    public torch.nn.Module CreateModel(ModelSection? model = null)
    {
        manual_seed(Recipe.Seed);
        return Family.CreateModel((model ?? Recipe.Model).Name, ModelOptions(model));
    }

    public Dictionary<string, string> Metadata(string architecture, ModelOptions options) => options.ToMetadata(architecture);

    /// <summary>Image i of a split: noise plus a bright square whose side depends only on (seed, split, i).</summary>
    private (float[] Pixels, float Coverage) Sample(int split, long i)
    {
        var rng = new Random(HashCode.Combine(Recipe.Seed, split, i));
        int side = 2 + rng.Next(7);
        int x0 = rng.Next(Size - side + 1), y0 = rng.Next(Size - side + 1);
        var px = new float[3 * Size * Size];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < Size; y++)
                for (int x = 0; x < Size; x++)
                    px[(c * Size + y) * Size + x] = ((x >= x0 && x < x0 + side && y >= y0 && y < y0 + side ? 1f : (float)rng.NextDouble() * 0.3f) - Mean[c]) / Std[c];
        return (px, side * side / (float)(Size * Size));
    }

    private ToyBatch Batch(int split, long first, int count)
    {
        var images = new float[count * 3 * Size * Size];
        var targets = new float[count];
        for (int k = 0; k < count; k++)
        {
            var (px, cov) = Sample(split, first + k);
            Array.Copy(px, 0, images, k * px.Length, px.Length);
            targets[k] = cov;
        }
        return new ToyBatch(tensor(images, count, 3, Size, Size), tensor(targets, count, 1));
    }

    public Func<long, IEnumerable<IImageBatch>> TrainBatches(int batchSize, int seedOffset = 0, Slim.Data.DataShard? shard = null) => from => Stream(from, batchSize);

    private IEnumerable<IImageBatch> Stream(long from, int batchSize)
    {
        for (long b = from; ; b++) yield return Batch(0, b * batchSize % TrainImageCount, batchSize);
    }

    public Func<IImageBatch, Slim.Training.LossParts> Loss(torch.nn.Module model) =>
        b => new Slim.Training.LossParts(F.mse_loss(Family.Forward(model, b.Images)[0], ((ToyBatch)b).Targets), new Dictionary<string, Tensor>());

    private TaskScore Score(IEnumerable<float> predicted)
    {
        double mae = predicted.Select((p, i) => Math.Abs(p - Sample(1, i).Coverage)).Average();
        return new TaskScore(Math.Max(0, 1 - 4 * mae), $"MAE {mae:F4} on {_valCount} images", Array.Empty<ScoreTable>());
    }

    public TaskScore Evaluate(torch.nn.Module model)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var batch = Batch(1, 0, _valCount);
        return Score(Family.Forward(model, batch.Images)[0].ToFloatArray());
    }

    public TaskScore EvaluateOnnx(string onnxPath, int threads)
    {
        using var batch = Batch(1, 0, _valCount);
        var outputs = OrtRunner.Create().Run(onnxPath, new[] { OnnxInputs(onnxPath, batch.Images) }, threads);
        return Score(outputs[0]["coverage"].ToFloatArray());
    }

    public IReadOnlyDictionary<string, OrtTensor> OnnxInputs(string onnxPath, Tensor images) =>
        new Dictionary<string, OrtTensor> { ["images"] = OrtTensor.FromTensor(images) };

    public IEnumerable<Tensor> CalibrationImages(int batches, int batchSize, Action<string>? log = null)
    {
        for (int b = 0; b < batches; b++)
            using (var batch = Batch(0, b * batchSize, batchSize))
                yield return batch.Images;
    }

    public Tensor SampleInput()
    {
        using var batch = Batch(1, 0, 1);
        return batch.Images.clone();
    }

    public ITask WithValidationLimit(int images) => new ToyRegressionTask(Recipe, images, Mean, Std);

    public ITask WithNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std) => new ToyRegressionTask(Recipe, _valCount, mean, std);

    private sealed class ToyBatch(Tensor images, Tensor targets) : IImageBatch
    {
        public Tensor Images { get; } = images;
        public Tensor Targets { get; } = targets;
        public int Count => (int)Images.shape[0];

        public void Dispose()
        {
            Images.Dispose();
            Targets.Dispose();
        }
    }
}
