using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>The integer type of a quantized tensor.</summary>
public enum QuantDType
{
    /// <summary>Signed 8-bit (ONNX INT8).</summary>
    Int8,
    /// <summary>Unsigned 8-bit (ONNX UINT8), zero point 0: inputs that are never negative.</summary>
    UInt8,
}

/// <summary>
/// Everything an INT8 (ONNX QDQ) exporter needs for one quantized layer, as plain arrays.
/// The layer computes, for input x (NCHW for a conv, [..., in] for a linear):
/// <code>
/// xq = clamp(round_half_even(x / InputScale) + InputZeroPoint, InputQuantMin, InputQuantMax)        (QuantizeLinear)
/// x' = (xq − InputZeroPoint) · InputScale                                                           (DequantizeLinear)
/// wq[c] = clamp(round_half_even(Weight[c] / WeightScales[c]), WeightQuantMin, WeightQuantMax), zero point 0, axis 0
/// y  = Conv(x', wq · WeightScales, Bias; Stride, Padding, Dilation, Groups)   or   y = x' · (wq · WeightScales)ᵀ + Bias
/// </code>
/// <see cref="Weight"/> and <see cref="Bias"/> are the float values with any BatchNorm folded in
/// (<see cref="FoldedBatchNorm"/> names the BN module, now an identity in the model); the bias stays float.
/// </summary>
public sealed record QuantizedLayer
{
    /// <summary>The module path of the layer ("backbone.conv1.conv").</summary>
    public required string ModulePath { get; init; }
    /// <summary>"Conv2d" or "Linear".</summary>
    public required string LayerType { get; init; }
    /// <summary>Full name of the weight parameter in the quantized model's state dict ("backbone.conv1.conv.weights").</summary>
    public required string WeightParameter { get; init; }
    /// <summary>Full name of the bias parameter, or null when the layer has none.</summary>
    public string? BiasParameter { get; init; }
    /// <summary>The path the BatchNorm2d folded into this conv had in the float model (an identity now), or null.</summary>
    public string? FoldedBatchNorm { get; init; }

    /// <summary>Folded float weight, row-major in <see cref="WeightShape"/> ([out, in/groups, k, k] or [out, in]).</summary>
    public required float[] Weight { get; init; }
    /// <summary>The weight's shape.</summary>
    public required long[] WeightShape { get; init; }
    /// <summary>Folded float bias [out], or null.</summary>
    public float[]? Bias { get; init; }

    /// <summary>Weight scale per output channel (axis 0): max |w_c| / 127.</summary>
    public required float[] WeightScales { get; init; }
    /// <summary>Weight zero point (symmetric: 0 for every channel).</summary>
    public int WeightZeroPoint { get; init; }
    /// <summary>The weight's channel axis (0).</summary>
    public int WeightAxis { get; init; }
    /// <summary>Smallest weight code (-127).</summary>
    public long WeightQuantMin { get; init; } = FakeQuant.QuantMin;
    /// <summary>Largest weight code (127).</summary>
    public long WeightQuantMax { get; init; } = FakeQuant.QuantMax;

    /// <summary>Input activation scale (threshold / 127, or threshold / 255 for a uint8 input).</summary>
    public required float InputScale { get; init; }
    /// <summary>Input zero point (symmetric: 0).</summary>
    public int InputZeroPoint { get; init; }
    /// <summary>Input integer type.</summary>
    public QuantDType InputType { get; init; } = QuantDType.Int8;
    /// <summary>Smallest input code (-127, or 0 for uint8).</summary>
    public long InputQuantMin { get; init; } = FakeQuant.QuantMin;
    /// <summary>Largest input code (127, or 255 for uint8).</summary>
    public long InputQuantMax { get; init; } = FakeQuant.QuantMax;

    /// <summary>Conv stride (1 for a linear).</summary>
    public long Stride { get; init; } = 1;
    /// <summary>Conv padding on every side (0 for a linear).</summary>
    public long Padding { get; init; }
    /// <summary>Conv dilation (1 for a linear).</summary>
    public long Dilation { get; init; } = 1;
    /// <summary>Conv groups (1 for a linear).</summary>
    public long Groups { get; init; } = 1;

    /// <summary>The int8 weight codes (round half to even, as ONNX QuantizeLinear), row-major like <see cref="Weight"/>.</summary>
    public sbyte[] QuantizedWeight()
    {
        var codes = new sbyte[Weight.Length];
        long perChannel = Weight.Length / WeightShape[0];
        for (int i = 0; i < Weight.Length; i++)
        {
            double q = Math.Round(Weight[i] / (double)WeightScales[i / perChannel], MidpointRounding.ToEven);
            codes[i] = (sbyte)Math.Clamp(q, WeightQuantMin, WeightQuantMax);
        }
        return codes;
    }
}

/// <summary>
/// The outcome of quantization (aware or post): the quantization parameters of every quantized
/// layer, keyed by module path, in module order. Layers absent from it stay float.
/// </summary>
public sealed class QuantizationResult(QuantMode mode, string activationAlgorithm, IReadOnlyList<QuantizedLayer> layers)
{
    /// <summary>How the parameters were obtained.</summary>
    public QuantMode Mode { get; } = mode;
    /// <summary>How the input thresholds were chosen ("moving_average_abs_max", "kl", …).</summary>
    public string ActivationAlgorithm { get; } = activationAlgorithm;
    /// <summary>The quantized layers in module order.</summary>
    public IReadOnlyList<QuantizedLayer> Layers { get; } = layers;

    /// <summary>The layer at a module path, or null when that layer is not quantized.</summary>
    public QuantizedLayer? Find(string modulePath) => Layers.FirstOrDefault(l => l.ModulePath == modulePath);

    /// <summary>
    /// Reads the quantization parameters of every <see cref="QuantLayer"/> in model.
    /// algorithm names the calibration (post) or is ignored (aware: moving_average_abs_max).
    /// </summary>
    public static QuantizationResult From(nn.Module model, QuantMode mode, CalibrationAlgo algorithm = CalibrationAlgo.Hist)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var layers = new List<QuantizedLayer>();
        foreach (var (path, module) in model.named_modules())
        {
            if (module is not QuantLayer q) continue;
            if (!q.HasInputScale)
                throw new QuantizationException($"{path}: the input has no quantization scale yet: train (aware) or calibrate (post) first");
            var (w, b) = q.FoldedWeightAndBias();
            var scales = FakeQuant.WeightScales(w);
            string prefix = path.Length == 0 ? "" : path + ".";
            var layer = new QuantizedLayer
            {
                ModulePath = path,
                LayerType = q.FloatType,
                WeightParameter = prefix + q.WeightName,
                BiasParameter = b is null ? null : prefix + q.BiasName,
                Weight = w.ToFloatArray(),
                WeightShape = w.shape,
                Bias = b?.ToFloatArray(),
                WeightScales = scales.ToFloatArray(),
                InputScale = (float)q.InputScale,
                InputType = q.InputUnsigned ? QuantDType.UInt8 : QuantDType.Int8,
                InputQuantMin = q.InputUnsigned ? 0 : FakeQuant.QuantMin,
                InputQuantMax = FakeQuant.QuantMaxOf(q.InputUnsigned),
            };
            if (q is QuantConv2d c)
                layer = layer with
                {
                    Stride = c.stride, Padding = c.padding, Dilation = c.dilation, Groups = c.groups,
                    FoldedBatchNorm = c.BatchNormPath,
                };
            layers.Add(layer);
        }
        string name = mode == QuantMode.Aware ? "moving_average_abs_max" : AlgorithmName(algorithm);
        return new QuantizationResult(mode, name, layers);
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
        foreach (var q in model.modules().OfType<QuantLayer>()) q.ObserverEnabled = false;
        return From(model, mode, algorithm);
    }
}
