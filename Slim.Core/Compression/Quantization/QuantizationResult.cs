using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// The outcome of quantization (aware or post): the <see cref="QuantizedLayer"/> record of every
/// quantized layer, in module order, the <see cref="QuantizedActivation"/> of every quantization point, and
/// the folded weights the layer records were taken from (for the float twin). Layers absent from it stay float.
/// </summary>
public sealed class QuantizationResult(QuantMode mode, string activationAlgorithm, IReadOnlyList<QuantizedLayer> layers,
    IReadOnlyDictionary<string, FoldedWeights>? folded = null, IReadOnlyList<QuantizedActivation>? activations = null)
{
    /// <summary>The quantization points on activations, in module order.</summary>
    public IReadOnlyList<QuantizedActivation> Activations { get; } = activations ?? Array.Empty<QuantizedActivation>();

    private readonly IReadOnlyDictionary<string, FoldedWeights> _folded = folded ?? new Dictionary<string, FoldedWeights>();

    /// <summary>How the parameters were obtained.</summary>
    public QuantMode Mode { get; } = mode;
    /// <summary>How the input thresholds were chosen ("moving_average_abs_max", "kl", …).</summary>
    public string ActivationAlgorithm { get; } = activationAlgorithm;
    /// <summary>The quantized layers in module order.</summary>
    public IReadOnlyList<QuantizedLayer> Layers { get; } = layers;

    /// <summary>
    /// The same records with the layers at <paramref name="modulePaths"/> left out: an export then writes them in
    /// float (their quantization points stay). What a fallback to float does to a finished quantization.
    /// </summary>
    public QuantizationResult WithFloat(IEnumerable<string> modulePaths)
    {
        var floated = modulePaths.ToHashSet(StringComparer.Ordinal);
        return new QuantizationResult(Mode, ActivationAlgorithm, Layers.Where(l => !floated.Contains(l.ModulePath)).ToList(), _folded, Activations);
    }

    /// <summary>The layer at a module path, or null when that layer is not quantized.</summary>
    public QuantizedLayer? Find(string modulePath) => Layers.FirstOrDefault(l => l.ModulePath == modulePath);

    /// <summary>
    /// The folded float weight and bias of the quantized layer at a module path, as they were when the
    /// parameters were read (what the float twin stores); throws when the result holds none for it.
    /// </summary>
    public FoldedWeights Folded(string modulePath) => _folded.TryGetValue(modulePath, out var f) ? f
        : throw new QuantizationException($"{modulePath}: the quantization result holds no folded weights for this layer (it was not read from a quantized model)");

    /// <summary>
    /// Reads the quantization parameters of every <see cref="QuantLayer"/> in model.
    /// algorithm names the calibration (post) or is ignored (aware: moving_average_abs_max).
    /// </summary>
    public static QuantizationResult From(nn.Module model, QuantMode mode, CalibrationAlgo algorithm = CalibrationAlgo.Hist)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var layers = new List<QuantizedLayer>();
        var folded = new Dictionary<string, FoldedWeights>(StringComparer.Ordinal);
        var activations = new List<QuantizedActivation>();
        foreach (var (path, module) in model.named_modules())
        {
            if (module is QuantPoint point)
            {
                if (!point.HasInputScale)
                    throw new QuantizationException($"{path}: the quantization point has no scale yet: train (aware) or calibrate (post) first");
                activations.Add(new QuantizedActivation { Path = path, Scale = (float)point.InputScale, Type = Int8Grid.TypeOf(point.InputUnsigned) });
                continue;
            }
            if (module is not QuantLayer q) continue;
            if (!q.HasInputScale)
                throw new QuantizationException($"{path}: the input has no quantization scale yet: train (aware) or calibrate (post) first");
            var (w, b) = q.FoldedWeightAndBias();
            var scales = FakeQuant.WeightScales(w, q.WeightQuantMax);
            string prefix = path.Length == 0 ? "" : path + ".";
            var layer = new QuantizedLayer
            {
                ModulePath = path,
                LayerType = q.FloatType,
                WeightParameter = prefix + q.WeightName,
                BiasParameter = b is null ? null : prefix + q.BiasName,
                WeightShape = w.shape,
                WeightScales = scales.ToFloatArray(),
                InputScale = (float)q.InputScale,
                InputType = Int8Grid.TypeOf(q.InputUnsigned),
                WeightQuantMin = -q.WeightQuantMax,
                WeightQuantMax = q.WeightQuantMax,
            };
            folded[path] = new FoldedWeights(w.ToFloatArray(), w.shape, b?.ToFloatArray());
            if (q is QuantConv2d c)
                layer = layer with
                {
                    Stride = c.stride, Padding = c.padding, Dilation = c.dilation, Groups = c.groups,
                    FoldedBatchNorm = c.BatchNormPath,
                };
            layers.Add(layer);
        }
        string name = mode == QuantMode.Aware ? "moving_average_abs_max" : AlgorithmName(algorithm);
        return new QuantizationResult(mode, name, layers, folded, activations);
    }

    /// <summary>The recipe spelling of an algorithm ("abs_max", "kl", …).</summary>
    public static string AlgorithmName(CalibrationAlgo algorithm) => algorithm switch
    {
        CalibrationAlgo.AbsMax => "abs_max",
        CalibrationAlgo.Avg => "avg",
        CalibrationAlgo.Hist => "hist",
        CalibrationAlgo.Kl => "kl",
        CalibrationAlgo.Mse => "mse",
        _ => algorithm.ToString().ToLowerInvariant(),
    };

    /// <summary>
    /// Finishes a quantized model for evaluation and export: every quantized conv still
    /// carrying a BN (aware training) gets it folded for real, observers stop, and the model is
    /// put in eval mode, where each quantized layer computes exactly
    /// fq(x) → conv/linear with fq(folded weight) + folded bias. Returns the parameters.
    /// </summary>
    public static QuantizationResult ToFakeQuant(nn.Module model, QuantMode mode = QuantMode.Aware, CalibrationAlgo algorithm = CalibrationAlgo.Hist)
    {
        model.eval();
        var convs = model.named_modules().Where(m => m.module is QuantConv2d { BatchNorm: not null }).ToList();
        foreach (var (path, module) in convs)
        {
            var conv = (QuantConv2d)module;
            var folded = conv.ToFolded();
            ModuleSwap.Replace(model, path, folded).Dispose();
        }
        foreach (var q in model.modules().OfType<ActivationQuantizer>()) q.ObserverEnabled = false;
        return From(model, mode, algorithm);
    }
}
