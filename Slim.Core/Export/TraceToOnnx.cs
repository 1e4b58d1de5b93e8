using System.Globalization;
using Onnx;
using Slim.Compression.Quantization;
using Slim.Torch;
using static Slim.Export.OnnxGraphBuilder;

namespace Slim.Export;

/// <summary>
/// Translates one <see cref="Trace"/> into ONNX nodes, operator by operator. Values computed only from
/// parameters and constants are evaluated here (constant folding) and stored as initializers; values that
/// depend on the input become node outputs. Each dynamic value remembers which of its axes is the batch,
/// so reshapes can keep the batch dimension dynamic.
/// </summary>
internal sealed class TraceToOnnx
{
    private readonly Trace _trace;
    private readonly OnnxExportOptions _options;
    private readonly OnnxGraphBuilder _g;
    private readonly Dictionary<int, string> _dynamic = new();
    private readonly Dictionary<int, int> _batchAxis = new();
    private readonly Dictionary<int, Tensor> _constant = new();
    private readonly Dictionary<int, string> _constantName = new();
    private readonly Dictionary<int, TraceNode> _foldedBatchNorm = new();
    private readonly HashSet<int> _skipped = new();
    private readonly Dictionary<string, string> _quantizedActivations = new(StringComparer.Ordinal);
    private readonly HashSet<string> _quantizedLayersSeen = new(StringComparer.Ordinal);
    private readonly HashSet<string> _pointsSeen = new(StringComparer.Ordinal);
    private readonly Dictionary<int, QuantizedActivation> _quantizeInputOf = new();
    private readonly long _batch;

    public TraceToOnnx(Trace trace, OnnxExportOptions options, OnnxGraphBuilder graph)
    {
        _trace = trace;
        _options = options;
        _g = graph;
        _batch = options.TraceBatch;
    }

    /// <summary>Layers of the quantization spec that the trace contained (the rest were never called).</summary>
    public IReadOnlyCollection<string> QuantizedLayers => _quantizedLayersSeen;

    /// <summary>Quantization points of <see cref="OnnxExportOptions.ActivationQuantization"/> that the trace reached.</summary>
    public IReadOnlyCollection<string> QuantizedPoints => _pointsSeen;

    /// <summary>Translates every node; returns the ONNX names of the trace's outputs.</summary>
    public string[] Translate(string inputName)
    {
        _g.Reserve(inputName);
        _dynamic[_trace.Inputs[0]] = inputName;
        _batchAxis[_trace.Inputs[0]] = 0;
        FindFoldableBatchNorms();
        FindQuantizedMovements();
        foreach (var node in _trace.Nodes)
        {
            if (_skipped.Contains(node.Index)) continue;
            // Fake quantization of a fixed tensor (a QAT weight) is kept as int8 + DequantizeLinear, not folded to floats.
            if (!node.ArgValues.Any(vs => vs.Any(_dynamic.ContainsKey)) && !node.Kind.StartsWith("fake_quantize_per_", StringComparison.Ordinal))
            {
                Fold(node);
                continue;
            }
            TranslateNode(node);
        }
        return _trace.Outputs.Select(v => _dynamic.TryGetValue(v, out var n) ? n : ConstantName(v, null)).ToArray();
    }

    /// <summary>The batch axis of a value, or -1 when it has none.</summary>
    public int BatchAxis(int value) => _batchAxis.TryGetValue(value, out var a) ? a : -1;

    public long TraceBatch => _batch;

    private void FindFoldableBatchNorms()
    {
        if (!_options.FoldBatchNorm) return;
        var consumers = new Dictionary<int, List<TraceNode>>();
        foreach (var n in _trace.Nodes)
            foreach (var v in n.ArgValues.SelectMany(vs => vs).Distinct())
            {
                if (!consumers.TryGetValue(v, out var list)) consumers[v] = list = new List<TraceNode>();
                list.Add(n);
            }
        var outputs = _trace.Outputs.ToHashSet();
        foreach (var conv in _trace.Nodes.Where(n => n.Kind == "conv2d"))
        {
            int v = conv.Outputs[0];
            if (outputs.Contains(v) || !consumers.TryGetValue(v, out var cs) || cs.Count != 1) continue;
            if (IsDynamicLater(conv.ValueOfArg(1)) || (conv.Args.Length > 2 && !conv.Args[2].IsNone && IsDynamicLater(conv.ValueOfArg(2)))) continue;
            var bn = cs[0];
            if (bn.Kind != "batch_norm" || bn.ValueOfArg(0) != v || Bool(bn, 5, false)) continue;
            // The statistics and affine terms must be fixed tensors to fold them into the weights.
            if (Enumerable.Range(1, 4).Any(i => i < bn.ArgValues.Length && bn.ArgValues[i].Any(IsDynamicLater))) continue;
            _foldedBatchNorm[conv.Index] = bn;
            _skipped.Add(bn.Index);
        }
    }

    /// <summary>
    /// A nearest upsample or max pool whose only reader is a quantized concat input: it gets the same
    /// QuantizeLinear/DequantizeLinear on its input, which changes nothing (neither op makes new values) and lets
    /// ONNX Runtime drop the pair around it and run it on int8.
    /// </summary>
    private void FindQuantizedMovements()
    {
        if (_options.ActivationQuantization is not { Count: > 0 } points) return;
        foreach (var cat in _trace.Nodes.Where(n => n.Kind is "cat" or "concat"))
        {
            var inputs = cat.ArgValues[0];
            for (int i = 0; i < inputs.Length; i++)
            {
                if (!points.TryGetValue(ConcatInputPath(cat.ModulePath, i), out var point)) continue;
                var producer = _trace.Producer(inputs[i]);
                if (producer is null || producer.Kind is not ("upsample_nearest2d" or "max_pool2d")) continue;
                if (_trace.Outputs.Contains(inputs[i]) || _trace.Consumers(inputs[i]).Count() != 1) continue;
                _quantizeInputOf[producer.Index] = point;
            }
        }
    }

    /// <summary>The module path of the quantization point on input i of the concat or add at path (as <c>QuantMerge</c> names it).</summary>
    internal static string ConcatInputPath(string path, int i) => path.Length == 0 ? $"input{i}" : $"{path}.input{i}";

    private QuantizedActivation? Point(string path)
    {
        if (_options.ActivationQuantization is null || !_options.ActivationQuantization.TryGetValue(path, out var p)) return null;
        _pointsSeen.Add(path);
        return p;
    }

    /// <summary>x quantized and dequantized as the point at path says, or x itself when there is no point there.</summary>
    private string AtPoint(TraceNode n, string x, string path, string role) =>
        Point(path) is { } p ? QuantizeActivation(n, x, p.Scale, p.ZeroPoint, p.Type, role) : x;

    // Values produced by a node depend on the input unless every argument is constant; this is decided
    // before translation, so check producers conservatively: parameters, buffers and unproduced values are fixed.
    private bool IsDynamicLater(int v) => _trace.Producer(v) is not null || _trace.Inputs.Contains(v);

    private void TranslateNode(TraceNode n)
    {
        var kind = n.Kind;
        // In-place ops (relu_, add_) overwrite their first argument: translate as the out-of-place op and
        // rebind the value id, so later uses see the new ONNX value.
        if (kind.EndsWith('_') && !kind.EndsWith("__", StringComparison.Ordinal)) kind = kind[..^1];
        var overload = n.Op.Overload;
        switch (kind)
        {
            case "alias": case "detach": case "contiguous": case "clone": case "lift_fresh":
            case "feature_dropout": case "feature_alpha_dropout": case "alpha_dropout":
                PassThrough(n);
                return;
            case "dropout":
                if (Bool(n, 2, false)) throw Unsupported(n, "dropout in training mode: call eval() before export");
                PassThrough(n);
                return;
            case "to":
                TranslateTo(n);
                return;
            case "conv2d":
                TranslateConv(n);
                return;
            case "batch_norm":
                TranslateBatchNorm(n);
                return;
            case "linear":
                TranslateLinear(n);
                return;
            case "relu": Unary(n, "Relu"); return;
            case "sigmoid": Unary(n, "Sigmoid"); return;
            case "tanh": Unary(n, "Tanh"); return;
            case "exp": Unary(n, "Exp"); return;
            case "log": Unary(n, "Log"); return;
            case "sqrt": Unary(n, "Sqrt"); return;
            case "neg": Unary(n, "Neg"); return;
            case "abs": Unary(n, "Abs"); return;
            case "floor": Unary(n, "Floor"); return;
            case "ceil": Unary(n, "Ceil"); return;
            case "reciprocal": Unary(n, "Reciprocal"); return;
            case "hardswish": Unary(n, "HardSwish"); return;
            case "hardsigmoid": Unary(n, "HardSigmoid", Attr("alpha", 1f / 6f), Attr("beta", 0.5f)); return;
            case "leaky_relu": Unary(n, "LeakyRelu", Attr("alpha", (float)Dbl(n, 1, 0.01))); return;
            case "elu":
                if (Dbl(n, 2, 1) != 1 || Dbl(n, 3, 1) != 1) throw Unsupported(n, "elu with scale or input_scale other than 1");
                Unary(n, "Elu", Attr("alpha", (float)Dbl(n, 1, 1)));
                return;
            case "softplus":
                if (Dbl(n, 1, 1) != 1) throw Unsupported(n, "softplus with beta other than 1");
                Unary(n, "Softplus");
                return;
            case "silu":
            {
                var x = In(n, 0);
                Bind(n, 0, _g.Node("Mul", NodeName(n, "Mul"), new[] { x, _g.Node("Sigmoid", NodeName(n, "Sigmoid"), new[] { x }) }), SameBatch(n));
                return;
            }
            case "mish":
            {
                var x = In(n, 0);
                var sp = _g.Node("Softplus", NodeName(n, "Softplus"), new[] { x });
                Bind(n, 0, _g.Node("Mul", NodeName(n, "Mul"), new[] { x, _g.Node("Tanh", NodeName(n, "Tanh"), new[] { sp }) }), SameBatch(n));
                return;
            }
            case "hardtanh":
                Clip(n, Dbl(n, 1, -1), Dbl(n, 2, 1));
                return;
            case "relu6":
                Clip(n, 0, 6);
                return;
            case "clamp":
                if (overload.Length > 0 && overload != "default") throw Unsupported(n, "clamp with tensor bounds");
                Clip(n, OptDbl(n, 1), OptDbl(n, 2));
                return;
            case "clamp_min": Clip(n, Dbl(n, 1, 0), null); return;
            case "clamp_max": Clip(n, null, Dbl(n, 1, 0)); return;
            case "add": case "sub":
                TranslateAddSub(n, kind == "add" ? "Add" : "Sub");
                return;
            case "rsub":
            {
                // rsub(x, other, alpha) = other - alpha * x
                var x = Scaled(n, In(n, 0), Dbl(n, 2, 1));
                var other = overload == "Scalar" ? _g.Scalar((float)Dbl(n, 1, 0)) : In(n, 1);
                Bind(n, 0, _g.Node("Sub", NodeName(n, "Sub"), new[] { other, x }), BroadcastBatch(n));
                return;
            }
            case "mul":
                Binary(n, "Mul");
                return;
            case "div":
                if (overload.Contains("mode", StringComparison.Ordinal) && n.Args.Length > 2 && !n.Args[2].IsNone)
                    throw Unsupported(n, "division with a rounding mode");
                Binary(n, "Div");
                return;
            case "pow":
                if (overload == "Scalar") throw Unsupported(n, "a scalar raised to a tensor power");
                Binary(n, "Pow");
                return;
            case "maximum": Binary(n, "Max"); return;
            case "minimum": Binary(n, "Min"); return;
            case "matmul": case "mm": case "bmm":
                Binary(n, "MatMul");
                return;
            case "cat": case "concat":
                TranslateCat(n, stack: false);
                return;
            case "stack":
                TranslateCat(n, stack: true);
                return;
            case "upsample_nearest2d":
            case "upsample_bilinear2d":
                TranslateUpsample(n, kind == "upsample_bilinear2d");
                return;
            case "max_pool2d":
            case "max_pool2d_with_indices":
                TranslatePool(n, "MaxPool");
                return;
            case "avg_pool2d":
                TranslatePool(n, "AveragePool");
                return;
            case "adaptive_avg_pool2d":
            case "adaptive_max_pool2d":
                TranslateAdaptivePool(n, kind == "adaptive_max_pool2d");
                return;
            case "argmax":
                TranslateArgMax(n);
                return;
            case "mean":
            case "sum":
                TranslateReduce(n, kind == "mean" ? "ReduceMean" : "ReduceSum");
                return;
            case "flatten":
                TranslateFlatten(n);
                return;
            case "view": case "reshape": case "_unsafe_view": case "view_as": case "reshape_as":
                Bind(n, 0, Reshape(n, In(n, 0), n.ValueOfArg(0), n.Outputs[0], out var axis), axis);
                return;
            case "permute":
                Transpose(n, Ints(n, 1)!);
                return;
            case "transpose":
            {
                int rank = Rank(n.ValueOfArg(0));
                var perm = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
                long d0 = Norm(Ints(n, 1)![0], rank), d1 = Norm(Ints(n, 2)![0], rank);
                (perm[d0], perm[d1]) = (perm[d1], perm[d0]);
                Transpose(n, perm);
                return;
            }
            case "t":
                Transpose(n, Rank(n.ValueOfArg(0)) == 2 ? new long[] { 1, 0 } : new long[] { 0 });
                return;
            case "unsqueeze":
            {
                int rank = Rank(n.Outputs[0]);
                long d = Norm(Ints(n, 1)![0], rank);
                int a = BatchAxis(n.ValueOfArg(0));
                Bind(n, 0, _g.Node("Unsqueeze", NodeName(n, "Unsqueeze"), new[] { In(n, 0), _g.Longs(d) }), a < 0 ? -1 : a >= d ? a + 1 : a);
                return;
            }
            case "squeeze":
                TranslateSqueeze(n);
                return;
            case "softmax": case "_softmax":
                Unary(n, "Softmax", Attr("axis", Ints(n, 1)![0]));
                return;
            case "log_softmax": case "_log_softmax":
                Unary(n, "LogSoftmax", Attr("axis", Ints(n, 1)![0]));
                return;
            case "slice":
                TranslateSlice(n, Ints(n, 1)?[0] ?? 0, OptInt(n, 2) ?? 0, OptInt(n, 3) ?? long.MaxValue, Ints(n, 4)?[0] ?? 1);
                return;
            case "narrow":
            {
                long start = Ints(n, 2)![0];
                TranslateSlice(n, Ints(n, 1)![0], start, start + Ints(n, 3)![0], 1);
                return;
            }
            case "select":
            {
                int rank = Rank(n.ValueOfArg(0));
                long d = Norm(Ints(n, 1)![0], rank);
                int a = BatchAxis(n.ValueOfArg(0));
                var y = _g.Node("Gather", NodeName(n, "Gather"), new[] { In(n, 0), _g.LongScalar(Ints(n, 2)![0]) }, Attr("axis", d));
                Bind(n, 0, y, a < 0 || a == d ? -1 : a > d ? a - 1 : a);
                return;
            }
            case "split": case "split_with_sizes": case "chunk": case "unsafe_split":
                TranslateSplit(n);
                return;
            case "expand": case "expand_as":
                TranslateExpand(n);
                return;
            case "repeat":
            {
                var reps = Ints(n, 1)!;
                int a = BatchAxis(n.ValueOfArg(0));
                int lead = reps.Length - Rank(n.ValueOfArg(0));
                if (lead > 0) throw Unsupported(n, "repeat that adds leading dimensions");
                if (a >= 0 && reps[a] != 1) throw Unsupported(n, "repeat along the batch dimension");
                Bind(n, 0, _g.Node("Tile", NodeName(n, "Tile"), new[] { In(n, 0), _g.Longs(reps) }), a);
                return;
            }
            case "fake_quantize_per_tensor_affine":
                TranslateFakeQuantize(n, perChannel: false);
                return;
            case "fake_quantize_per_channel_affine":
                TranslateFakeQuantize(n, perChannel: true);
                return;
            default:
                throw Unsupported(n, "no ONNX translation for this operator; supported: conv2d, batch_norm, linear, activations " +
                    "(relu, relu6/hardtanh, leaky_relu, hardswish, hardsigmoid, sigmoid, tanh, silu, mish, elu, softplus), " +
                    "arithmetic, cat/stack, upsample (nearest, bilinear), pooling, flatten/view/reshape, permute/transpose, " +
                    "squeeze/unsqueeze, slice/select/split, softmax, fake_quantize");
        }
    }

    // ---- layers ----

    private void TranslateConv(TraceNode n)
    {
        if (n.Args.Length > 4 && n.Args[4].Kind == OpArg.K.String)
            throw Unsupported(n, "string padding ('same'/'valid'); pass explicit padding numbers");
        if (_dynamic.ContainsKey(n.ValueOfArg(1)))
        {
            TranslateComputedWeightLayer(n, "Conv");
            return;
        }
        var w = ConstantTensor(n, 1, "the weight must be a parameter or constant");
        var b = n.Args.Length > 2 && !n.Args[2].IsNone ? ConstantTensor(n, 2, "the bias must be a parameter or constant") : null;
        long[] stride = Ints(n, 3) ?? new long[] { 1, 1 };
        long[] pad = Ints(n, 4) ?? new long[] { 0, 0 };
        long[] dil = Ints(n, 5) ?? new long[] { 1, 1 };
        long groups = Ints(n, 6)?[0] ?? 1;
        if (stride.Length == 1) stride = new[] { stride[0], stride[0] };
        if (pad.Length == 1) pad = new[] { pad[0], pad[0] };
        if (dil.Length == 1) dil = new[] { dil[0], dil[0] };

        string wName = ParamName(n, 1, "weight");
        string bName = b is not null ? ParamName(n, 2, "bias") : $"{ModuleName(n)}.bias";
        int outValue = n.Outputs[0];
        using var scope = torch.NewDisposeScope();
        if (_foldedBatchNorm.TryGetValue(n.Index, out var bn))
        {
            // y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta, folded into the weights per output channel.
            var gamma = bn.Args[1].IsNone ? null : ConstantTensor(bn, 1, "");
            var beta = bn.Args[2].IsNone ? null : ConstantTensor(bn, 2, "");
            var mean = ConstantTensor(bn, 3, "batch norm running mean must be a buffer");
            var var = ConstantTensor(bn, 4, "batch norm running variance must be a buffer");
            double eps = Dbl(bn, 7, 1e-5);
            var scale = (var.to(ScalarType.Float64) + eps).rsqrt();
            if (gamma is not null) scale = scale * gamma.to(ScalarType.Float64);
            w = (w.to(ScalarType.Float64) * scale.view(-1, 1, 1, 1)).to(ScalarType.Float32);
            var shift = (b is null ? -mean.to(ScalarType.Float64) : b.to(ScalarType.Float64) - mean.to(ScalarType.Float64)) * scale;
            if (beta is not null) shift = shift + beta.to(ScalarType.Float64);
            b = shift.to(ScalarType.Float32);
            if (n.Args[2].IsNone) bName = bn.Args[2].IsNone ? $"{ModuleName(n)}.bias" : ParamName(bn, 2, "bias");
            outValue = bn.Outputs[0];
        }

        var attrs = new[]
        {
            Attr("kernel_shape", w.shape.Skip(2)),
            Attr("strides", stride),
            Attr("pads", new[] { pad[0], pad[1], pad[0], pad[1] }),
            Attr("dilations", dil),
            Attr("group", groups),
        };
        var x = In(n, 0);
        string[] inputs;
        if (Quantization(n) is { } q)
        {
            inputs = QuantizedLayerInputs(n, x, w, b, wName, bName, q);
        }
        else
        {
            inputs = b is null ? new[] { x, _g.FromTensor(wName, w) } : new[] { x, _g.FromTensor(wName, w), _g.FromTensor(bName, b) };
        }
        var y = _g.Node("Conv", NodeName(n, "Conv"), inputs, attrs);
        if (bn is not null) y = AtPoint(n, y, bn.ModulePath, "output");
        _dynamic[outValue] = y;
        _batchAxis[outValue] = BatchAxis(n.ValueOfArg(0));
    }

    private void TranslateBatchNorm(TraceNode n)
    {
        if (Bool(n, 5, false)) throw Unsupported(n, "batch_norm in training mode: call eval() before export");
        long c = _trace.Shape(n.ValueOfArg(0))[1];
        string Param(int i, float fill, string what)
        {
            if (n.Args[i].IsNone) return _g.Floats($"{ModuleName(n)}.{what}", Enumerable.Repeat(fill, (int)c).ToArray(), c);
            return In(n, i);
        }
        var inputs = new[] { In(n, 0), Param(1, 1, "weight"), Param(2, 0, "bias"), In(n, 3), In(n, 4) };
        var y = _g.Node("BatchNormalization", NodeName(n, "BatchNormalization"), inputs, Attr("epsilon", (float)Dbl(n, 7, 1e-5)));
        Bind(n, 0, AtPoint(n, y, n.ModulePath, "output"), SameBatch(n));
    }

    private void TranslateLinear(TraceNode n)
    {
        if (_dynamic.ContainsKey(n.ValueOfArg(1)))
        {
            TranslateComputedWeightLayer(n, "Gemm");
            return;
        }
        var w = ConstantTensor(n, 1, "the weight must be a parameter or constant");
        var b = n.Args.Length > 2 && !n.Args[2].IsNone ? ConstantTensor(n, 2, "the bias must be a parameter or constant") : null;
        string wName = ParamName(n, 1, "weight"), bName = b is not null ? ParamName(n, 2, "bias") : "";
        var x = In(n, 0);
        int rank = Rank(n.ValueOfArg(0));
        var q = Quantization(n);
        if (rank == 2)
        {
            var inputs = q is not null ? QuantizedLayerInputs(n, x, w, b, wName, bName, q)
                : b is null ? new[] { x, _g.FromTensor(wName, w) } : new[] { x, _g.FromTensor(wName, w), _g.FromTensor(bName, b) };
            Bind(n, 0, _g.Node("Gemm", NodeName(n, "Gemm"), inputs, Attr("transB", 1L)), SameBatch(n));
            return;
        }
        if (q is not null) throw Unsupported(n, $"INT8 linear layers need a 2-D input (got rank {rank}); flatten before the layer");
        using var scope = torch.NewDisposeScope();
        var y = _g.Node("MatMul", NodeName(n, "MatMul"), new[] { x, _g.FromTensor(wName + ".T", w.t()) });
        if (b is not null) y = _g.Node("Add", NodeName(n, "Add"), new[] { y, _g.FromTensor(bName, b) });
        Bind(n, 0, y, SameBatch(n));
    }

    /// <summary>
    /// A conv or linear layer whose weight is computed in the graph (the DequantizeLinear of a QAT weight):
    /// the weight's node output is used as it is, nothing is folded.
    /// </summary>
    private void TranslateComputedWeightLayer(TraceNode n, string op)
    {
        if (_options.Quantization?.ContainsKey(n.ModulePath) == true)
            throw Unsupported(n, "the layer's weight is already fake-quantized in the forward and also listed in OnnxExportOptions.Quantization; use one of the two");
        var inputs = new List<string> { In(n, 0), In(n, 1) };
        if (n.Args.Length > 2 && !n.Args[2].IsNone) inputs.Add(In(n, 2));
        if (op == "Gemm")
        {
            if (Rank(n.ValueOfArg(0)) != 2) throw Unsupported(n, "a linear layer with a computed weight needs a 2-D input");
            Bind(n, 0, _g.Node("Gemm", NodeName(n, "Gemm"), inputs, Attr("transB", 1L)), SameBatch(n));
            return;
        }
        var wShape = _trace.Shape(n.ValueOfArg(1));
        long[] stride = Ints(n, 3) ?? new long[] { 1, 1 }, pad = Ints(n, 4) ?? new long[] { 0, 0 }, dil = Ints(n, 5) ?? new long[] { 1, 1 };
        if (stride.Length == 1) stride = new[] { stride[0], stride[0] };
        if (pad.Length == 1) pad = new[] { pad[0], pad[0] };
        if (dil.Length == 1) dil = new[] { dil[0], dil[0] };
        Bind(n, 0, _g.Node("Conv", NodeName(n, "Conv"), inputs, Attr("kernel_shape", wShape.Skip(2)), Attr("strides", stride),
            Attr("pads", new[] { pad[0], pad[1], pad[0], pad[1] }), Attr("dilations", dil), Attr("group", Ints(n, 6)?[0] ?? 1)), SameBatch(n));
    }

    private QuantizedLayer? Quantization(TraceNode n)
    {
        if (_options.Quantization is null || !_options.Quantization.TryGetValue(n.ModulePath, out var q)) return null;
        if (!_quantizedLayersSeen.Add(n.ModulePath))
            throw Unsupported(n, "the quantized layer is called more than once in the forward; each call needs its own quantization parameters");
        return q;
    }

    /// <summary>
    /// The inputs of a QDQ conv/gemm: DequantizeLinear(QuantizeLinear(x)), int8 weights with per-channel
    /// DequantizeLinear(axis 0), and an int32 bias with scale input_scale * weight_scale, as ONNX Runtime's
    /// QDQ fusion expects for QLinearConv / QGemm.
    /// </summary>
    private string[] QuantizedLayerInputs(TraceNode n, string x, Tensor w, Tensor? b, string wName, string bName, QuantizedLayer q)
    {
        long outChannels = w.shape[0];
        if (!q.WeightShape.SequenceEqual(w.shape))
            throw new ArgumentException($"OnnxExportOptions.Quantization['{n.ModulePath}']: the record is for a weight of shape [{string.Join(", ", q.WeightShape)}] " +
                $"but the model's is [{string.Join(", ", w.shape)}]; export the checkpoint the quantization was made for (the float twin)");
        var xq = QuantizeActivation(n, x, q.InputScale, q.InputZeroPoint, q.InputType, "input");

        var wq = q.QuantizeWeight(w.detach().contiguous().ToFloatArray());
        var wInit = _g.Int8s(wName, wq, w.shape);
        var wScale = _g.Floats(wName + ".scale", q.WeightScales, outChannels);
        var wZero = _g.Int8s(wName + ".zero_point", new sbyte[outChannels], outChannels);
        var wDq = _g.Node("DequantizeLinear", NodeName(n, "weight.DequantizeLinear"), new[] { wInit, wScale, wZero }, Attr("axis", 0L));
        if (b is null) return new[] { xq, wDq };

        var bf = b.detach().contiguous().ToFloatArray();
        // The int32 form (step input_scale · weight_scale) is what QLinearConv fusion needs, and what ONNX Runtime
        // would make of a float bias anyway; only a code beyond int32 keeps the bias in float.
        var bq = Int8Grid.BiasCodes(bf, q.InputScale, q.WeightScales);
        if (bq is null) return new[] { xq, wDq, _g.Floats(bName, bf, outChannels) };
        var bScale = new float[outChannels];
        for (long c = 0; c < outChannels; c++) bScale[c] = Int8Grid.BiasStep(q.InputScale, q.WeightScales[c]);
        var bInit = _g.Int32s(bName, bq, outChannels);
        var bS = _g.Floats(bName + ".scale", bScale, outChannels);
        var bZero = _g.Int32s(bName + ".zero_point", new int[outChannels], outChannels);
        var bDq = _g.Node("DequantizeLinear", NodeName(n, "bias.DequantizeLinear"), new[] { bInit, bS, bZero }, Attr("axis", 0L));
        return new[] { xq, wDq, bDq };
    }


    /// <summary>
    /// DequantizeLinear(QuantizeLinear(x)) with per-tensor parameters, shared by consumers that agree on them.
    /// A signed grid is written as uint8 with the zero point moved up by 128, which is the same computation
    /// (clamp(round(x/s) + z, −128, 127) + 128 = clamp(round(x/s) + z + 128, 0, 255)) and the form ONNX Runtime's
    /// x86 kernels take: it converts int8 pairs itself, but only a QuantizeLinear with a single DequantizeLinear
    /// after it, so a tensor read by two quantized layers would otherwise keep both in float.
    /// </summary>
    private string QuantizeActivation(TraceNode n, string x, float scale, int zeroPoint, QuantDType type, string role)
    {
        if (type == QuantDType.Int8) zeroPoint += 128;
        var key = $"{x}|{BitConverter.SingleToInt32Bits(scale)}|{zeroPoint}";
        if (_quantizedActivations.TryGetValue(key, out var dq)) return dq;
        var s = _g.Floats($"{x}.scale", new[] { scale });
        var zp = _g.UInt8s($"{x}.zero_point", new[] { (byte)zeroPoint });
        var qv = _g.Node("QuantizeLinear", NodeName(n, role + ".QuantizeLinear"), new[] { x, s, zp });
        dq = _g.Node("DequantizeLinear", NodeName(n, role + ".DequantizeLinear"), new[] { qv, s, zp });
        _quantizedActivations[key] = dq;
        return dq;
    }

    private void TranslateFakeQuantize(TraceNode n, bool perChannel)
    {
        long qmin = Ints(n, perChannel ? 4 : 3)![0], qmax = Ints(n, perChannel ? 5 : 4)![0];
        bool unsigned = qmin >= 0 && qmax <= 255 && qmax > 127;
        // Narrower ranges (like the symmetric [-127, 127] of weights) are exact for a fixed tensor, whose integers
        // are computed here; an activation is clamped by QuantizeLinear to the full type range.
        bool constant = !_dynamic.ContainsKey(n.ValueOfArg(0));
        bool fullRange = (qmin == 0 && qmax == 255) || (qmin == -128 && qmax == 127);
        if (!(fullRange || (constant && qmin >= (unsigned ? 0 : -128) && qmax <= (unsigned ? 255 : 127))))
            throw Unsupported(n, $"fake quantization range [{qmin}, {qmax}]; QDQ export supports [0, 255] and [-128, 127] (narrower ranges on weights)");

        float[] scales;
        long[] zeros;
        long axis = 0;
        if (perChannel)
        {
            scales = ConstantTensor(n, 1, "per-channel scales must be constant").ToFloatArray();
            zeros = ConstantTensor(n, 2, "per-channel zero points must be constant").ToInt64Array();
            axis = Norm(Ints(n, 3)![0], Rank(n.ValueOfArg(0)));
        }
        else
        {
            scales = new[] { (float)(n.Args[1].AsDouble ?? ConstantTensor(n, 1, "scale must be constant").ToFloatArray()[0]) };
            zeros = new[] { n.Args[2].AsInts?[0] ?? ConstantTensor(n, 2, "zero point must be constant").ToInt64Array()[0] };
        }
        string baseName = constant ? (_trace.ParameterName(n.ValueOfArg(0)) ?? _trace.BufferName(n.ValueOfArg(0)) ?? $"{ModuleName(n)}.quantized") : In(n, 0);
        long count = scales.Length;
        long[] dims = perChannel ? new[] { count } : Array.Empty<long>();
        var s = _g.Floats($"{baseName}.scale", scales, dims);
        var zp = unsigned ? _g.UInt8s($"{baseName}.zero_point", zeros.Select(v => (byte)v).ToArray(), dims)
                          : _g.Int8s($"{baseName}.zero_point", zeros.Select(v => (sbyte)v).ToArray(), dims);
        var attrs = perChannel ? new[] { Attr("axis", axis) } : Array.Empty<AttributeProto>();
        string q;
        if (constant)
        {
            var t = ConstantValue(n.ValueOfArg(0), n);
            var shape = t.shape;
            var data = t.detach().contiguous().ToFloatArray();
            long inner = shape.Skip((int)axis + 1).Aggregate(1L, (a, b) => a * b);
            var ints = new long[data.Length];
            for (long i = 0; i < data.Length; i++)
            {
                long c = perChannel ? i / inner % count : 0;
                ints[i] = Math.Clamp((long)Math.Round(data[i] / (double)scales[c], MidpointRounding.ToEven) + zeros[c], qmin, qmax);
            }
            q = unsigned ? _g.UInt8s(baseName, ints.Select(v => (byte)v).ToArray(), shape)
                         : _g.Int8s(baseName, ints.Select(v => (sbyte)v).ToArray(), shape);
        }
        else
        {
            q = _g.Node("QuantizeLinear", NodeName(n, "QuantizeLinear"), new[] { In(n, 0), s, zp }, attrs);
        }
        Bind(n, 0, _g.Node("DequantizeLinear", NodeName(n, "DequantizeLinear"), new[] { q, s, zp }, attrs), constant ? -1 : SameBatch(n));
    }

    // ---- shape and movement ----

    private void TranslateTo(TraceNode n)
    {
        var outType = n.Args.Skip(1).Select(a => a.Kind == OpArg.K.Int ? (ScalarType?)(ScalarType)a.I : null).FirstOrDefault(t => t is not null);
        if (n.Op.Overload == "dtype" && outType is { } t && t != ScalarType.Float32)
        {
            var onnxType = t switch
            {
                ScalarType.Int64 => TensorProto.Types.DataType.Int64,
                ScalarType.Int32 => TensorProto.Types.DataType.Int32,
                ScalarType.Bool => TensorProto.Types.DataType.Bool,
                ScalarType.Byte => TensorProto.Types.DataType.Uint8,
                ScalarType.Float64 => TensorProto.Types.DataType.Double,
                _ => throw Unsupported(n, $"conversion to {t}"),
            };
            Bind(n, 0, _g.Node("Cast", NodeName(n, "Cast"), new[] { In(n, 0) }, Attr("to", (long)onnxType)), SameBatch(n));
            return;
        }
        PassThrough(n);
    }

    private void TranslateCat(TraceNode n, bool stack)
    {
        var values = n.ArgValues[0];
        int rank = Rank(n.Outputs[0]);
        long dim = Norm(Ints(n, 1)?[0] ?? 0, rank);
        var names = values.Select((v, i) => stack ? Name(v, n) : AtPoint(n, Name(v, n), ConcatInputPath(n.ModulePath, i), $"input{i}")).ToArray();
        if (stack) names = names.Select(x => _g.Node("Unsqueeze", NodeName(n, "Unsqueeze"), new[] { x, _g.Longs(dim) })).ToArray();
        int a = values.Select(BatchAxis).FirstOrDefault(x => x >= 0, -1);
        if (stack && a >= dim) a++;
        Bind(n, 0, _g.Node("Concat", NodeName(n, "Concat"), names, Attr("axis", dim)), a);
    }

    private void TranslateUpsample(TraceNode n, bool bilinear)
    {
        var inShape = _trace.Shape(n.ValueOfArg(0));
        var outShape = _trace.Shape(n.Outputs[0]);
        if (inShape.Length != 4) throw Unsupported(n, "upsampling of a tensor that is not NCHW");
        // Scale factors as given (PyTorch maps output to input coordinates with 1/scale when a factor is
        // given), else output/input sizes.
        double[]? factors = null;
        bool vec = n.Op.Overload == "vec";
        const int alignIndex = 2; // align_corners sits after output_size in both overloads
        if (vec)
        {
            int fi = bilinear ? 3 : 2;
            if (n.Args.Length > fi && n.Args[fi].Kind == OpArg.K.DoubleList) factors = (double[])n.Args[fi].O!;
        }
        else
        {
            int hi = bilinear ? 3 : 2;
            if (n.Args.Length > hi + 1 && OptDbl(n, hi) is { } sh && OptDbl(n, hi + 1) is { } sw) factors = new[] { sh, sw };
        }
        // An output size that is not a whole multiple of the input's goes in as sizes: a float scale such as 4/6 would
        // have ONNX Runtime floor 6 × 0.6666667 to 3 or 4, and PyTorch maps coordinates with in / out, as sizes do.
        bool bySize = factors is null && (outShape[2] % inShape[2] != 0 || outShape[3] % inShape[3] != 0);
        factors ??= new[] { outShape[2] / (double)inShape[2], outShape[3] / (double)inShape[3] };
        string scales = "", sizes = "";
        if (bySize)
        {
            if (SameBatch(n) != 0) throw Unsupported(n, "resizing to a size of a tensor whose batch is not on its first axis");
            var shape = _g.Node("Shape", NodeName(n, "Shape"), new[] { In(n, 0) });
            var batchChannels = _g.Node("Slice", NodeName(n, "Slice"), new[] { shape, _g.Longs(0), _g.Longs(2) });
            sizes = _g.Node("Concat", NodeName(n, "Concat"), new[] { batchChannels, _g.Longs(outShape[2], outShape[3]) }, Attr("axis", 0L));
        }
        else
        {
            scales = _g.FloatVector(1f, 1f, (float)factors[0], (float)factors[1]);
        }
        AttributeProto[] attrs;
        if (bilinear)
        {
            bool align = Bool(n, alignIndex, false);
            attrs = new[] { Attr("mode", "linear"), Attr("coordinate_transformation_mode", align ? "align_corners" : "half_pixel") };
        }
        else
        {
            attrs = new[] { Attr("mode", "nearest"), Attr("coordinate_transformation_mode", "asymmetric"), Attr("nearest_mode", "floor") };
        }
        var inputs = bySize ? new[] { MovementInput(n), "", "", sizes } : new[] { MovementInput(n), "", scales };
        Bind(n, 0, _g.Node("Resize", NodeName(n, "Resize"), inputs, attrs), SameBatch(n));
    }

    private void TranslatePool(TraceNode n, string op)
    {
        bool max = op == "MaxPool";
        long[] k = Ints(n, 1)!;
        if (k.Length == 1) k = new[] { k[0], k[0] };
        long[] s = Ints(n, 2) is { Length: > 0 } st ? st : k;
        if (s.Length == 1) s = new[] { s[0], s[0] };
        long[] p = Ints(n, 3) ?? new long[] { 0, 0 };
        if (p.Length == 1) p = new[] { p[0], p[0] };
        var attrs = new List<AttributeProto> { Attr("kernel_shape", k), Attr("strides", s), Attr("pads", new[] { p[0], p[1], p[0], p[1] }) };
        if (max)
        {
            long[] d = Ints(n, 4) ?? new long[] { 1, 1 };
            if (d.Length == 1) d = new[] { d[0], d[0] };
            attrs.Add(Attr("dilations", d));
            attrs.Add(Attr("ceil_mode", Bool(n, 5, false) ? 1L : 0L));
            if (n.Outputs.Length > 1 && _trace.Nodes.Skip(n.Index + 1).Any(m => m.ArgValues.Any(vs => vs.Contains(n.Outputs[1]))))
                throw Unsupported(n, "max pooling indices are used; only the pooled values can be exported");
        }
        else
        {
            attrs.Add(Attr("ceil_mode", Bool(n, 4, false) ? 1L : 0L));
            attrs.Add(Attr("count_include_pad", Bool(n, 5, true) ? 1L : 0L));
            if (n.Args.Length > 6 && !n.Args[6].IsNone) throw Unsupported(n, "avg_pool2d with divisor_override");
        }
        Bind(n, 0, _g.Node(op, NodeName(n, op), new[] { max ? MovementInput(n) : In(n, 0) }, attrs.ToArray()), SameBatch(n));
    }

    /// <summary>The input of a nearest upsample or max pool, quantized when a concat point reads its output (<see cref="FindQuantizedMovements"/>).</summary>
    private string MovementInput(TraceNode n) =>
        _quantizeInputOf.TryGetValue(n.Index, out var p) ? QuantizeActivation(n, In(n, 0), p.Scale, p.ZeroPoint, p.Type, "input") : In(n, 0);

    private void TranslateAdaptivePool(TraceNode n, bool max)
    {
        var inShape = _trace.Shape(n.ValueOfArg(0));
        var outSize = Ints(n, 1)!;
        if (outSize.Length == 1) outSize = new[] { outSize[0], outSize[0] };
        string y;
        if (outSize[0] == 1 && outSize[1] == 1)
        {
            y = _g.Node(max ? "GlobalMaxPool" : "GlobalAveragePool", NodeName(n, max ? "GlobalMaxPool" : "GlobalAveragePool"), new[] { In(n, 0) });
        }
        else if (inShape[2] % outSize[0] == 0 && inShape[3] % outSize[1] == 0)
        {
            // Adaptive pooling over sizes that divide evenly is plain pooling with kernel = stride = in / out.
            var k = new[] { inShape[2] / outSize[0], inShape[3] / outSize[1] };
            y = _g.Node(max ? "MaxPool" : "AveragePool", NodeName(n, max ? "MaxPool" : "AveragePool"), new[] { In(n, 0) },
                Attr("kernel_shape", k), Attr("strides", k));
        }
        else if (!max)
        {
            // Any other average: out = P_h · x · P_wᵀ, where row i of P averages input cells [⌊i·in/out⌋, ⌈(i+1)·in/out⌉),
            // PyTorch's bins (also when out > in, where bins overlap). Two MatMuls with constant matrices, exact up to rounding.
            var pw = _g.Floats(_g.Unique("adaptive_pool_w"), PoolMatrix(inShape[3], outSize[1], transpose: true), inShape[3], outSize[1]);
            var ph = _g.Floats(_g.Unique("adaptive_pool_h"), PoolMatrix(inShape[2], outSize[0], transpose: false), outSize[0], inShape[2]);
            var rows = _g.Node("MatMul", NodeName(n, "MatMul"), new[] { In(n, 0), pw });
            y = _g.Node("MatMul", NodeName(n, "MatMul"), new[] { ph, rows });
        }
        else
        {
            throw Unsupported(n, $"adaptive max pooling from {inShape[2]}x{inShape[3]} to {outSize[0]}x{outSize[1]} (sizes must divide evenly)");
        }
        if (max && n.Outputs.Length > 1 && _trace.Nodes.Skip(n.Index + 1).Any(m => m.ArgValues.Any(vs => vs.Contains(n.Outputs[1]))))
            throw Unsupported(n, "max pooling indices are used; only the pooled values can be exported");
        Bind(n, 0, y, SameBatch(n));
    }

    /// <summary>The [out, in] matrix (or its transpose) whose row i averages PyTorch's adaptive-pooling bin i.</summary>
    private static float[] PoolMatrix(long input, long output, bool transpose)
    {
        var m = new float[input * output];
        for (long i = 0; i < output; i++)
        {
            long start = i * input / output, end = ((i + 1) * input + output - 1) / output;
            for (long j = start; j < end; j++) m[transpose ? j * output + i : i * input + j] = 1f / (end - start);
        }
        return m;
    }

    private void TranslateArgMax(TraceNode n)
    {
        int rank = Rank(n.ValueOfArg(0));
        if (n.Args.Length < 2 || n.Args[1].IsNone) throw Unsupported(n, "argmax over the flattened tensor (give a dimension)");
        long dim = Norm(Ints(n, 1)![0], rank);
        bool keep = Bool(n, 2, false);
        int a = BatchAxis(n.ValueOfArg(0));
        if (a == dim) throw Unsupported(n, "argmax over the batch axis");
        int outAxis = a < 0 ? -1 : keep || a < dim ? a : a - 1;
        Bind(n, 0, _g.Node("ArgMax", NodeName(n, "ArgMax"), new[] { In(n, 0) }, Attr("axis", dim), Attr("keepdims", keep ? 1L : 0L)), outAxis);
    }

    private void TranslateReduce(TraceNode n, string op)
    {
        int rank = Rank(n.ValueOfArg(0));
        var dims = n.Args.Length > 1 ? Ints(n, 1) : null;
        if (dims is null || dims.Length == 0) dims = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        dims = dims.Select(d => Norm(d, rank)).ToArray();
        bool keep = Bool(n, 2, false);
        int a = BatchAxis(n.ValueOfArg(0));
        int outAxis = a < 0 || dims.Contains(a) ? -1 : keep ? a : a - dims.Count(d => d < a);
        string y;
        if (op == "ReduceMean")
            y = _g.Node(op, NodeName(n, op), new[] { In(n, 0) }, Attr("axes", dims), Attr("keepdims", keep ? 1L : 0L));
        else
            y = _g.Node(op, NodeName(n, op), new[] { In(n, 0), _g.Longs(dims) }, Attr("keepdims", keep ? 1L : 0L));
        Bind(n, 0, y, outAxis);
    }

    private void TranslateFlatten(TraceNode n)
    {
        int rank = Rank(n.ValueOfArg(0));
        long start = Norm(Ints(n, 1)?[0] ?? 0, rank), end = Norm(Ints(n, 2)?[0] ?? -1, rank);
        if (start == 1 && end == rank - 1 && BatchAxis(n.ValueOfArg(0)) == 0)
        {
            Bind(n, 0, _g.Node("Flatten", NodeName(n, "Flatten"), new[] { In(n, 0) }, Attr("axis", 1L)), 0);
            return;
        }
        Bind(n, 0, Reshape(n, In(n, 0), n.ValueOfArg(0), n.Outputs[0], out var axis), axis);
    }

    /// <summary>
    /// Reshape to the traced output shape with the batch kept dynamic: 0 (copy the input's size) where the
    /// shapes agree up to and including the batch axis, -1 when the batch is merged into or split from the
    /// leading dimension.
    /// </summary>
    private string Reshape(TraceNode n, string x, int inValue, int outValue, out int outAxis)
    {
        var inShape = _trace.Shape(inValue);
        var shape = (long[])_trace.Shape(outValue).Clone();
        int a = BatchAxis(inValue);
        outAxis = -1;
        if (a >= 0)
        {
            bool prefix = a < shape.Length && inShape.Take(a + 1).SequenceEqual(shape.Take(a + 1));
            if (prefix)
            {
                shape[a] = 0;
                outAxis = a;
            }
            else if (a == 0 && shape.Length > 0)
            {
                shape[0] = -1;
                outAxis = 0;
            }
            else
            {
                throw Unsupported(n, $"reshape from [{string.Join(", ", inShape)}] to [{string.Join(", ", shape)}] moves the batch dimension (axis {a})");
            }
        }
        return _g.Node("Reshape", NodeName(n, "Reshape"), new[] { x, _g.Longs(shape) });
    }

    private void Transpose(TraceNode n, long[] perm)
    {
        int rank = Rank(n.ValueOfArg(0));
        perm = perm.Select(p => Norm(p, rank)).ToArray();
        int a = BatchAxis(n.ValueOfArg(0));
        Bind(n, 0, _g.Node("Transpose", NodeName(n, "Transpose"), new[] { In(n, 0) }, Attr("perm", perm)), a < 0 ? -1 : Array.IndexOf(perm, (long)a));
    }

    private void TranslateSqueeze(TraceNode n)
    {
        var shape = _trace.Shape(n.ValueOfArg(0));
        int a = BatchAxis(n.ValueOfArg(0));
        long[] dims = n.Args.Length > 1 && Ints(n, 1) is { } d
            ? d.Select(x => Norm(x, shape.Length)).Where(x => shape[x] == 1).ToArray()
            : Enumerable.Range(0, shape.Length).Where(i => shape[i] == 1 && i != a).Select(i => (long)i).ToArray();
        if (a >= 0 && dims.Contains(a)) throw Unsupported(n, "squeeze of the batch dimension");
        if (dims.Length == 0) { PassThrough(n); return; }
        Bind(n, 0, _g.Node("Squeeze", NodeName(n, "Squeeze"), new[] { In(n, 0), _g.Longs(dims) }), a < 0 ? -1 : a - dims.Count(x => x < a));
    }

    private void TranslateSlice(TraceNode n, long dim, long start, long end, long step)
    {
        int rank = Rank(n.ValueOfArg(0));
        dim = Norm(dim, rank);
        int a = BatchAxis(n.ValueOfArg(0));
        if (dim == a && !(start == 0 && end >= _batch && step == 1)) throw Unsupported(n, "slicing along the batch dimension");
        var y = _g.Node("Slice", NodeName(n, "Slice"), new[] { In(n, 0), _g.Longs(start), _g.Longs(end), _g.Longs(dim), _g.Longs(step) });
        Bind(n, 0, y, a);
    }

    private void TranslateSplit(TraceNode n)
    {
        int rank = Rank(n.ValueOfArg(0));
        long dim = Norm(Ints(n, 2)?[0] ?? 0, rank);
        int a = BatchAxis(n.ValueOfArg(0));
        if (dim == a) throw Unsupported(n, "splitting along the batch dimension");
        var sizes = n.Outputs.Select(v => _trace.Shape(v)[dim]).ToArray();
        var outs = _g.NodeMulti("Split", NodeName(n, "Split"), new[] { In(n, 0), _g.Longs(sizes) }, sizes.Length, Attr("axis", dim));
        for (int i = 0; i < outs.Length; i++)
        {
            _dynamic[n.Outputs[i]] = outs[i];
            _batchAxis[n.Outputs[i]] = a;
        }
    }

    private void TranslateExpand(TraceNode n)
    {
        var shape = (long[])_trace.Shape(n.Outputs[0]).Clone();
        int a = BatchAxis(n.ValueOfArg(0));
        int lead = shape.Length - Rank(n.ValueOfArg(0));
        // A size of 1 broadcasts to whatever the input has, so the batch stays dynamic.
        if (a >= 0) shape[a + lead] = 1;
        var y = _g.Node("Expand", NodeName(n, "Expand"), new[] { In(n, 0), _g.Longs(shape) });
        Bind(n, 0, y, a < 0 ? -1 : a + lead);
    }

    // ---- elementwise helpers ----

    private void PassThrough(TraceNode n)
    {
        int v = n.ValueOfArg(0);
        _dynamic[n.Outputs[0]] = _dynamic[v];
        _batchAxis[n.Outputs[0]] = BatchAxis(v);
    }

    private void Unary(TraceNode n, string op, params AttributeProto[] attrs) =>
        Bind(n, 0, _g.Node(op, NodeName(n, op), new[] { In(n, 0) }, attrs), SameBatch(n));

    private void Clip(TraceNode n, double? min, double? max)
    {
        var inputs = new[] { In(n, 0), min is { } lo ? _g.Scalar((float)lo) : "", max is { } hi ? _g.Scalar((float)hi) : "" };
        Bind(n, 0, _g.Node("Clip", NodeName(n, "Clip"), max is null ? inputs[..2] : inputs), SameBatch(n));
    }

    private void TranslateAddSub(TraceNode n, string op)
    {
        double alpha = Dbl(n, 2, 1);
        if (n.Op.Overload == "Scalar" || n.Args[1].AsTensor is null)
        {
            double s = (n.Args[1].AsDouble ?? 0) * alpha;
            Bind(n, 0, _g.Node(op, NodeName(n, op), new[] { In(n, 0), _g.Scalar((float)s) }), SameBatch(n));
            return;
        }
        // A residual add with quantization points on its inputs (QLinearAdd).
        var a = op == "Add" && alpha == 1 ? AtPoint(n, In(n, 0), ConcatInputPath(n.ModulePath, 0), "input0") : In(n, 0);
        var b = op == "Add" && alpha == 1 ? AtPoint(n, In(n, 1), ConcatInputPath(n.ModulePath, 1), "input1") : Scaled(n, In(n, 1), alpha);
        Bind(n, 0, _g.Node(op, NodeName(n, op), new[] { a, b }), BroadcastBatch(n));
    }

    private string Scaled(TraceNode n, string x, double alpha) =>
        alpha == 1 ? x : _g.Node("Mul", NodeName(n, "Mul"), new[] { x, _g.Scalar((float)alpha) });

    private void Binary(TraceNode n, string op)
    {
        string b = n.Args[1].AsTensor is null ? _g.Scalar((float)(n.Args[1].AsDouble ?? throw Unsupported(n, "second operand is neither a tensor nor a number"))) : In(n, 1);
        Bind(n, 0, _g.Node(op, NodeName(n, op), new[] { In(n, 0), b }), BroadcastBatch(n));
    }

    private int SameBatch(TraceNode n) => BatchAxis(n.ValueOfArg(0));

    /// <summary>The output batch axis of a broadcasting op: the dynamic input's axis, shifted by the rank difference.</summary>
    private int BroadcastBatch(TraceNode n)
    {
        int outRank = Rank(n.Outputs[0]);
        foreach (var vs in n.ArgValues)
            foreach (var v in vs)
                if (BatchAxis(v) is var a && a >= 0) return a + outRank - Rank(v);
        return -1;
    }

    // ---- values ----

    private void Bind(TraceNode n, int output, string name, int batchAxis)
    {
        _dynamic[n.Outputs[output]] = name;
        _batchAxis[n.Outputs[output]] = batchAxis;
    }

    private string In(TraceNode n, int arg)
    {
        int v = n.ValueOfArg(arg);
        if (v < 0) throw Unsupported(n, $"argument {arg} is not a single tensor");
        return Name(v, n, arg);
    }

    private string Name(int v, TraceNode n, int arg = -1)
    {
        if (_dynamic.TryGetValue(v, out var name)) return name;
        return ConstantName(v, n);
    }

    private string ConstantName(int v, TraceNode? n)
    {
        if (_constantName.TryGetValue(v, out var name)) return name;
        var t = ConstantValue(v, n);
        var baseName = _trace.ParameterName(v) ?? _trace.BufferName(v) ?? $"const_{v}";
        name = _g.FromTensor(baseName, t);
        _constantName[v] = name;
        return name;
    }

    private Tensor ConstantTensor(TraceNode n, int arg, string why)
    {
        int v = n.ValueOfArg(arg);
        if (v < 0 || _dynamic.ContainsKey(v)) throw Unsupported(n, $"argument {arg} depends on the input: {why}");
        return ConstantValue(v, n);
    }

    /// <summary>The tensor of a fixed value: folded earlier, or the argument object itself (parameters, buffers, literals).</summary>
    private Tensor ConstantValue(int v, TraceNode? n)
    {
        if (_constant.TryGetValue(v, out var t)) return t;
        foreach (var node in n is null ? _trace.Nodes : new[] { n }.Concat(_trace.Nodes))
            for (int i = 0; i < node.ArgValues.Length; i++)
            {
                int j = Array.IndexOf(node.ArgValues[i], v);
                if (j < 0) continue;
                var tensor = node.Args[i].Tensors.ElementAt(j);
                _constant[v] = tensor;
                return tensor;
            }
        throw new InvalidOperationException($"ONNX export: value %{v} has no known tensor");
    }

    /// <summary>Evaluates a node whose arguments are all fixed, so its outputs become constants.</summary>
    private void Fold(TraceNode n)
    {
        var args = new OpArg[n.Args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            var a = n.Args[i];
            var vs = n.ArgValues[i];
            if (vs.Length == 0) { args[i] = a; continue; }
            var ts = vs.Select(v => ConstantValue(v, n)).ToArray();
            args[i] = a.Kind switch
            {
                OpArg.K.Tensor => ts[0],
                OpArg.K.TensorList => ts,
                _ => OpArg.OptionalTensors(a.Kind == OpArg.K.OptTensorList ? RebuildOptional((Tensor?[])a.O!, ts) : ts),
            };
        }
        // An in-place op on a parameter must not change the model: work on a copy.
        if (n.Kind.EndsWith('_') && args.Length > 0 && args[0].AsTensor is { } first) args[0] = first.clone();
        var outs = n.Op.Tensors(args);
        for (int i = 0; i < n.Outputs.Length && i < outs.Length; i++)
        {
            _constant[n.Outputs[i]] = outs[i];
            _constantName.Remove(n.Outputs[i]);
        }
    }

    private static Tensor?[] RebuildOptional(Tensor?[] original, Tensor[] present)
    {
        var r = new Tensor?[original.Length];
        for (int i = 0, j = 0; i < original.Length; i++) r[i] = original[i] is null ? null : present[j++];
        return r;
    }

    private int Rank(int v) => _trace.Shape(v).Length;

    private static long Norm(long d, int rank) => d < 0 ? d + rank : d;

    private string ParamName(TraceNode n, int arg, string fallback) =>
        _trace.ParameterName(n.ValueOfArg(arg)) ?? _trace.BufferName(n.ValueOfArg(arg)) ?? $"{ModuleName(n)}.{fallback}";

    private static string ModuleName(TraceNode n) => n.ModulePath.Length == 0 ? n.Kind : n.ModulePath;

    private static string NodeName(TraceNode n, string op) => n.ModulePath.Length == 0 ? op : $"{n.ModulePath}/{op}";

    private static long[]? Ints(TraceNode n, int i) => i < n.Args.Length ? n.Args[i].AsInts : null;
    private static long? OptInt(TraceNode n, int i) => i < n.Args.Length && !n.Args[i].IsNone ? n.Args[i].AsInts?[0] : null;
    private static double Dbl(TraceNode n, int i, double fallback) => i < n.Args.Length ? n.Args[i].AsDouble ?? fallback : fallback;
    private static double? OptDbl(TraceNode n, int i) => i < n.Args.Length ? n.Args[i].AsDouble : null;
    private static bool Bool(TraceNode n, int i, bool fallback) => i < n.Args.Length && n.Args[i].AsDouble is { } d ? d != 0 : fallback;

    private static UnsupportedLayerException Unsupported(TraceNode n, string detail) => new(n.Op.FullName, n.ModulePath, detail);
}
