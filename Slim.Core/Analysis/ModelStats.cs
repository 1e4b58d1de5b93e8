using System.Globalization;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Analysis;

/// <summary>
/// Size and cost of a model, from one traced forward pass on a zero input of batch 1.
/// <para>
/// <see cref="PaddleGFlops"/> counts what PaddleSlim's model-zoo tables call GFLOPs: the multiply-accumulates
/// of convolution and fully connected layers only, without bias, divided by 2^30.
/// </para>
/// <para>
/// <see cref="Flops"/> counts arithmetic operations: 2 per MAC of conv/linear, 1 per output element for a
/// bias, 2 per element for batch norm (scale and shift, as at inference), 1 per element for ReLU, ReLU6,
/// leaky ReLU, sigmoid and tanh, 4 for hard-swish (add, clip, multiply, divide), 3 for hard-sigmoid,
/// 1 per output element for elementwise add/sub/mul/div (residuals, SE scaling), k² per output element for
/// max/avg pooling, and 1 per input element for adaptive average pooling. Reshapes, concatenation and
/// nearest upsampling move data and count 0.
/// </para>
/// </summary>
public sealed class ModelStats
{
    /// <summary>2^30, the divisor of PaddleSlim's GFLOPs.</summary>
    public const double GiB = 1024.0 * 1024.0 * 1024.0;

    private ModelStats(IReadOnlyList<LayerStats> layers, long flops, long trainable, long statistics, long[] inputShape)
    {
        Layers = layers;
        Flops = flops;
        TrainableParameters = trainable;
        StatisticsParameters = statistics;
        InputShape = inputShape;
    }

    /// <summary>Conv and linear layers in execution order.</summary>
    public IReadOnlyList<LayerStats> Layers { get; }

    /// <summary>The input the forward was traced with ([1, C, H, W]).</summary>
    public long[] InputShape { get; }

    /// <summary>Total multiply-accumulates of conv and linear layers (no bias).</summary>
    public long Macs => Layers.Sum(l => l.Macs);

    /// <summary>PaddleSlim-style GFLOPs: <see cref="Macs"/> / 2^30.</summary>
    public double PaddleGFlops => Macs / GiB;

    /// <summary>Arithmetic operations of the whole forward, counted as the class remarks say.</summary>
    public long Flops { get; }

    /// <summary>Trainable parameters (conv and fc weights and biases, BN scale and offset).</summary>
    public long TrainableParameters { get; }

    /// <summary>Floating-point buffers: BN running mean and variance.</summary>
    public long StatisticsParameters { get; }

    /// <summary>All stored numbers: trainable parameters plus BN statistics.</summary>
    public long Parameters => TrainableParameters + StatisticsParameters;

    /// <summary>Weights and biases of conv and linear layers only.</summary>
    public long LayerParameters => Layers.Sum(l => l.Parameters);

    /// <summary>Size of all parameters and statistics as float32, in MiB.</summary>
    public double SizeMiB => Parameters * 4.0 / (1024 * 1024);

    /// <summary>Traces a model whose forward maps one tensor to one tensor (classifiers).</summary>
    public static ModelStats Compute(nn.Module<Tensor, Tensor> model, long[] inputShape) =>
        Compute(model, inputShape, x => new[] { model.call(x) });

    /// <summary>Traces a model whose forward maps one tensor to several (detectors).</summary>
    public static ModelStats Compute(nn.Module<Tensor, Tensor[]> model, long[] inputShape) =>
        Compute(model, inputShape, model.call);

    /// <summary>
    /// Traces forward on zeros of inputShape (batch must be 1) in eval mode (restoring each module's mode
    /// afterwards) and counts every conv and linear node and every parameter.
    /// </summary>
    public static ModelStats Compute(nn.Module model, long[] inputShape, Func<Tensor, IEnumerable<Tensor>> forward)
    {
        if (inputShape.Length < 2 || inputShape[0] != 1)
            throw new ArgumentException($"ModelStats: input shape [{string.Join(", ", inputShape)}] must start with batch 1", nameof(inputShape));

        var modes = model.named_modules().Select(m => (m.module, m.module.training)).ToList();
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            var x = zeros(inputShape);
            using var trace = Trace.Run(model, new[] { x }, xs => forward(xs[0]));
            var layers = new List<LayerStats>();
            long flops = 0;
            foreach (var node in trace.Nodes)
            {
                var layer = LayerOf(trace, node);
                if (layer is not null)
                {
                    layers.Add(layer);
                    flops += 2 * layer.Macs + (layer.HasBias ? Numel(layer.OutputShape) : 0);
                }
                else
                {
                    flops += OtherFlops(trace, node);
                }
            }
            long trainable = model.named_parameters().Sum(p => p.parameter.numel());
            long statistics = model.named_buffers().Where(b => b.buffer.dtype.IsFloatingPoint()).Sum(b => b.buffer.numel());
            return new ModelStats(layers, flops, trainable, statistics, (long[])inputShape.Clone());
        }
        finally
        {
            // Parents come before children, so each module ends with its own recorded mode.
            foreach (var (m, training) in modes) m.train(training);
        }
    }

    private static LayerStats? LayerOf(Trace trace, TraceNode node)
    {
        if (node.Kind is not ("conv2d" or "linear")) return null;
        int w = node.ValueOfArg(1);
        if (w < 0 || node.Outputs.Length == 0) return null;
        var weight = trace.Shape(w);
        var output = trace.Shape(node.Outputs[0]);
        bool hasBias = node.Args.Length > 2 && node.ValueOfArg(2) >= 0;
        long perOutput = node.Kind == "conv2d" ? weight.Skip(1).Aggregate(1L, (a, b) => a * b) : weight[^1];
        long macs = Numel(output) * perOutput;
        long parameters = Numel(weight) + (hasBias ? weight[0] : 0);
        return new LayerStats(node.ModulePath, node.Kind, trace.ParameterName(w) ?? "", weight, output, macs, hasBias, parameters);
    }

    private static long OtherFlops(Trace trace, TraceNode node)
    {
        if (node.Outputs.Length == 0) return 0;
        long outElems = Numel(trace.Shape(node.Outputs[0]));
        switch (node.Kind)
        {
            case "batch_norm":
                return 2 * outElems;
            case "relu" or "relu_" or "hardtanh" or "hardtanh_" or "leaky_relu" or "leaky_relu_" or "sigmoid" or "tanh":
                return outElems;
            case "hardswish" or "hardswish_":
                return 4 * outElems;
            case "hardsigmoid" or "hardsigmoid_":
                return 3 * outElems;
            case "add" or "add_" or "sub" or "sub_" or "mul" or "mul_" or "div" or "div_":
                return outElems;
            case "max_pool2d" or "avg_pool2d":
                var k = node.Args.Length > 1 ? node.Args[1].AsInts : null;
                long window = k is null ? 1 : k.Length == 1 ? k[0] * k[0] : k.Aggregate(1L, (a, b) => a * b);
                return outElems * window;
            case "adaptive_avg_pool2d" or "mean":
                int input = node.ValueOfArg(0);
                return input >= 0 ? Numel(trace.Shape(input)) : 0;
            default:
                return 0;
        }
    }

    private static long Numel(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>A per-layer table (path, weight shape, output shape, MACs, PaddleSlim GFLOPs, parameters) with totals, as plain cells.</summary>
    public ScoreTable ToTable()
    {
        var ci = CultureInfo.InvariantCulture;
        var rows = Layers.Select(l => (IReadOnlyList<string>)new[]
        {
            l.ModulePath, string.Join("×", l.WeightShape), string.Join("×", l.OutputShape),
            (l.Macs / 1e6).ToString("F2", ci), l.PaddleGFlops.ToString("F4", ci), l.Parameters.ToString("N0", ci),
        }).ToList();
        rows.Add(new[] { "total (conv + fc)", "", "", (Macs / 1e6).ToString("F2", ci), PaddleGFlops.ToString("F4", ci), LayerParameters.ToString("N0", ci) });
        return new ScoreTable($"input [{string.Join("×", InputShape)}]", new[] { "layer", "weight", "output", "MMACs", "GFLOPs (Paddle)", "params" }, rows, new[] { 3, 4, 5 });
    }

    /// <summary>One line per total: GFLOPs (Paddle), true GFLOPs, parameters, size.</summary>
    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"GFLOPs (PaddleSlim, conv+fc MACs / 2^30): {PaddleGFlops:F3}; FLOPs (all ops): {Flops / 1e9:F3} G; " +
        $"parameters: {TrainableParameters / 1e6:F3} M trainable + {StatisticsParameters / 1e6:F3} M BN statistics; size: {SizeMiB:F2} MiB (float32)");

}
