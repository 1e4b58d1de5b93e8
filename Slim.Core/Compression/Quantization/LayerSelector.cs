using Slim.Common;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// Decides which Conv2d and Linear layers are quantized (not_quant patterns, the detection
/// output) and which BatchNorm2d folds into which conv. BN pairs come from a traced forward:
/// a batch_norm whose input is a conv2d output that nothing else reads.
/// </summary>
public static class LayerSelector
{
    /// <summary>
    /// The plan for model. forward runs the model on one input batch (sample) and returns its
    /// output tensors; it is traced once in eval mode without gradients.
    /// </summary>
    public static QuantizationPlan Select(nn.Module model, QuantizationOptions options, Func<Tensor, IEnumerable<Tensor>> forward, Tensor sample)
    {
        options.Validate();
        var modules = model.named_modules().Where(m => m.name.Length > 0).ToList();
        var already = modules.FirstOrDefault(m => m.module is QuantLayer);
        if (already.module is not null)
            throw new QuantizationException($"the model is already quantized ({already.module.TypeName} at '{already.name}'): load the float checkpoint instead");
        CheckPatterns(options.NotQuant, modules.Select(m => m.name).ToList());

        var layers = modules.Where(m => m.module is Conv2d or Linear).ToList();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var trace = Trace.Run(model, new[] { sample }, xs => forward(xs[0]));
            var bnOf = BatchNormPairs(trace);
            var decisions = new List<QuantLayerDecision>();
            foreach (var (path, module) in layers)
            {
                bnOf.TryGetValue(path, out var bnPath);
                var pattern = options.NotQuant.FirstOrDefault(p => path.Contains(p, StringComparison.Ordinal));
                string reason;
                bool quantized = false;
                if (pattern is not null) reason = $"not_quant pattern '{pattern}'";
                else if (!options.QuantOutput && options.OutputPatterns.Any(p => path.Contains(p, StringComparison.Ordinal))) reason = "output layer";
                else
                {
                    quantized = true;
                    reason = QuantizationPlan.QuantizedReason;
                }
                decisions.Add(new QuantLayerDecision(path, module.TypeName, quantized, reason, bnPath));
            }
            return new QuantizationPlan(decisions, Points(trace, decisions));
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>
    /// The quantization points that let ONNX Runtime keep the graph in int8 (its QDQ fusion needs every
    /// int8 op's inputs to come from DequantizeLinear and its output to go to one QuantizeLinear):
    /// <list type="bullet">
    /// <item>each concat or residual add (a <see cref="Merge"/> module) whose output a quantized layer reads
    /// (after a ReLU, for an add) gets a point on every input (QLinearConcat, QLinearAdd);</item>
    /// <item>each quantized conv with a folded batch norm whose output goes anywhere but straight into quantized
    /// inputs, or into a ReLU that only quantized inputs read (ONNX Runtime folds that ReLU into the QuantizeLinear
    /// after it), gets a point on its output (QLinearConv, then QLinearLeakyRelu, or a float op between
    /// DequantizeLinear and QuantizeLinear, such as a squeeze-excitation block kept in float).</item>
    /// </list>
    /// </summary>
    private static List<QuantPointDecision> Points(Trace trace, IReadOnlyList<QuantLayerDecision> decisions)
    {
        var quantized = decisions.Where(d => d.Quantized).Select(d => d.Path).ToHashSet(StringComparer.Ordinal);
        var outputs = trace.Outputs.ToHashSet();
        var points = new List<QuantPointDecision>();
        var merges = new HashSet<string>(StringComparer.Ordinal);
        // Reads of v that quantize it: a quantized layer's input.
        bool QuantizedRead(TraceNode n, int v) =>
            n.Kind is "conv2d" or "linear" && n.Module is Conv2d or Linear && quantized.Contains(n.ModulePath) && n.ValueOfArg(0) == v;
        // A merge's output is worth int8 when a quantized layer reads it, directly or through a ReLU.
        bool ReadQuantized(int v) => !outputs.Contains(v) && trace.Consumers(v).Any(c => QuantizedRead(c, v)
            || (IsRelu(c) && !outputs.Contains(c.Outputs[0]) && trace.Consumers(c.Outputs[0]).Any(r => QuantizedRead(r, c.Outputs[0]))));
        var mergeNodes = new List<TraceNode>();
        foreach (var n in trace.Nodes)
        {
            if (n.Module is not Merge merge || MergeInputs(n) is not { } values || !merges.Add(n.ModulePath)) continue;
            if (!ReadQuantized(n.Outputs[0])) continue;
            string op = merge is Concat ? "QLinearConcat" : "QLinearAdd";
            points.Add(new QuantPointDecision(n.ModulePath, QuantPointKind.MergeInputs, values.Length, $"{values.Length} {merge.TypeName.ToLowerInvariant()} inputs, for {op}"));
            mergeNodes.Add(n);
        }
        var mergeInputs = new HashSet<int>(mergeNodes.SelectMany(n => MergeInputs(n)!));
        foreach (var d in decisions)
        {
            if (!d.Quantized || d.BatchNormPath is null) continue;
            var bn = trace.Nodes.FirstOrDefault(n => n.Kind == "batch_norm" && n.ModulePath == d.BatchNormPath);
            if (bn is null) continue;
            int v = bn.Outputs[0];
            if (outputs.Contains(v)) continue;
            var readers = trace.Consumers(v).ToList();
            if (readers.Count == 0) continue;
            bool AllQuantized(int value, List<TraceNode> rs) =>
                rs.Count > 0 && !outputs.Contains(value) && rs.All(r => QuantizedRead(r, value) || (mergeNodes.Contains(r) && mergeInputs.Contains(value)));
            // A ReLU folds into the QuantizeLinear after it, when everything reading the ReLU quantizes it.
            if (readers.Count == 1 && IsRelu(readers[0]) && AllQuantized(readers[0].Outputs[0], trace.Consumers(readers[0].Outputs[0]).ToList())) continue;
            if (AllQuantized(v, readers)) continue;
            string what = string.Join(", ", readers.Select(r => r.Kind).Distinct());
            points.Add(new QuantPointDecision(d.BatchNormPath, QuantPointKind.ConvOutput, 1, $"output of {d.Path} (read by {what}), for QLinearConv"));
        }
        return points;
    }

    /// <summary>The tensor inputs of a merge's op (cat's list, add's two operands), or null for another op of the module.</summary>
    private static int[]? MergeInputs(TraceNode n) => n.Kind switch
    {
        "cat" => n.ArgValues[0],
        "add" or "add_" when n.ArgValues.Length > 1 && n.ValueOfArg(0) >= 0 && n.ValueOfArg(1) >= 0 && (n.Args.Length < 3 || n.Args[2].AsDouble is null or 1.0) =>
            new[] { n.ValueOfArg(0), n.ValueOfArg(1) },
        _ => null,
    };

    // ONNX Runtime drops a Relu (or a Clip from 0) whose only reader is a QuantizeLinear with zero point at the type's minimum.
    private static bool IsRelu(TraceNode n) => n.Kind is "relu" or "relu_" or "relu6" or "relu6_"
        || (n.Kind is "hardtanh" or "hardtanh_" && n.Args.Length > 1 && n.Args[1].AsDouble == 0);

    /// <summary>Throws when a pattern is contained in no module path, naming the nearest names and the top-level modules.</summary>
    public static void CheckPatterns(IReadOnlyList<string> patterns, IReadOnlyList<string> modulePaths)
    {
        foreach (var pattern in patterns)
        {
            if (modulePaths.Any(p => p.Contains(pattern, StringComparison.Ordinal))) continue;
            // Suggest among whole paths and their parts, since patterns usually name a scope ("se_block").
            var names = modulePaths.Concat(modulePaths.SelectMany(p => p.Split('.'))).Distinct().ToList();
            var near = Suggest.Nearest(pattern, names);
            string hint = near.Count > 0 ? $" (did you mean {string.Join(" or ", near.Select(n => $"'{n}'"))}?)" : Suggest.NearestClause(pattern, names);
            var scopes = modulePaths.Select(p => p.Split('.')[0]).Distinct().ToList();
            throw new QuantizationException($"quant not_quant pattern '{pattern}' matches no module path{hint}; a pattern is a part of a module path " +
                                            $"such as {modulePaths.FirstOrDefault(p => p.Count(c => c == '.') >= 2) ?? modulePaths.FirstOrDefault() ?? "?"} (top-level modules: {string.Join(", ", scopes)})");
        }
    }

    /// <summary>Conv module path → path of the BatchNorm2d that directly and solely consumes its output.</summary>
    public static Dictionary<string, string> FollowingBatchNorms(nn.Module model, Func<Tensor, IEnumerable<Tensor>> forward, Tensor sample)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var trace = Trace.Run(model, new[] { sample }, xs => forward(xs[0]));
            return BatchNormPairs(trace);
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    private static Dictionary<string, string> BatchNormPairs(Trace trace)
    {
        var convCalls = trace.Nodes.Where(n => n.Kind == "conv2d" && n.Module is Conv2d).ToList();
        var bnCalls = trace.Nodes.Where(n => n.Kind == "batch_norm" && n.Module is BatchNorm2d).ToList();
        var pairs = new Dictionary<string, string>();
        foreach (var conv in convCalls)
        {
            // A layer called more than once (shared weights) cannot be folded with one BN.
            if (convCalls.Count(c => ReferenceEquals(c.Module, conv.Module)) != 1) continue;
            int output = conv.Outputs[0];
            if (trace.Outputs.Contains(output)) continue;
            var consumers = trace.Consumers(output).ToList();
            if (consumers.Count != 1) continue;
            var bn = consumers[0];
            if (bn.Kind != "batch_norm" || bn.Module is not BatchNorm2d bnModule || bn.ValueOfArg(0) != output) continue;
            if (bnCalls.Count(c => ReferenceEquals(c.Module, bn.Module)) != 1) continue;
            if (bnModule.num_features != ((Conv2d)conv.Module!).out_channels) continue;
            pairs[conv.ModulePath] = bn.ModulePath;
        }
        return pairs;
    }
}
