using Onnx;

namespace Slim.Export;

/// <summary>How ONNX Runtime runs one quantized layer of an INT8 file.</summary>
/// <param name="ModulePath">The layer's module path.</param>
/// <param name="RunsAs">The operator ONNX Runtime runs for it after its graph optimizations (QLinearConv, QGemm, Conv, FusedConv, …).</param>
/// <param name="Int8">Whether that operator computes in int8.</param>
/// <param name="Reason">Why it fell back to float, when that can be told; null when it runs in int8.</param>
public sealed record DeployedLayer(string ModulePath, string RunsAs, bool Int8, string? Reason);

/// <summary>
/// The deployability report of an INT8 (QDQ) ONNX file: ONNX Runtime opens it with full graph optimization,
/// writes the graph it will actually run, and this reads that graph back: per quantized layer, whether it became
/// an int8 operator (QLinearConv, QGemm, …) or stayed a float one on weights dequantized at run time, and why;
/// and which other operators run in float (activations before float layers, outputs). A quantized layer that runs
/// in float is what makes an INT8 file slower than its FP32 twin.
/// </summary>
public sealed class Int8Deployability
{
    private static readonly HashSet<string> Int8Ops = new(StringComparer.Ordinal)
    {
        "QLinearConv", "QGemm", "QLinearMatMul", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
    };

    // Operators that only move or copy values: they run on int8 as well as float, so they are no finding.
    private static readonly HashSet<string> Neutral = new(StringComparer.Ordinal)
    {
        "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "ReorderInput", "ReorderOutput", "Shape", "Gather", "Slice", "Resize", "MaxPool", "NhwcMaxPool",
    };

    private Int8Deployability(IReadOnlyList<DeployedLayer> layers, IReadOnlyDictionary<string, int> operators, IReadOnlyList<string> floatOperators)
    {
        Layers = layers;
        Operators = operators;
        FloatOperators = floatOperators;
    }

    /// <summary>Every quantized layer of the file, in the records' order.</summary>
    public IReadOnlyList<DeployedLayer> Layers { get; }

    /// <summary>Operator type → count in the optimized graph.</summary>
    public IReadOnlyDictionary<string, int> Operators { get; }

    /// <summary>Compute operators of the optimized graph that run in float ("LeakyRelu yolo_block.0.tip.act/LeakyRelu"), quantized layers excluded.</summary>
    public IReadOnlyList<string> FloatOperators { get; }

    /// <summary>Quantized layers that run as int8 operators.</summary>
    public int Int8Count => Layers.Count(l => l.Int8);

    /// <summary>The quantized layers that fell back to float.</summary>
    public IEnumerable<DeployedLayer> FloatFallbacks => Layers.Where(l => !l.Int8);

    /// <summary>"47/47 quantized layers in int8 (QLinearConv 47, QLinearLeakyRelu 17, QLinearConcat 2); also in float: 3 Conv, 3 LeakyRelu".</summary>
    public string Summary()
    {
        var q = Operators.Where(kv => kv.Key.StartsWith("QLinear", StringComparison.Ordinal) || Int8Ops.Contains(kv.Key))
            .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}");
        var f = FloatOperators.Select(o => o.Split(' ')[0]).GroupBy(o => o).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Count()} {g.Key}");
        string floats = FloatOperators.Count == 0 ? "nothing else in float" : "also in float: " + string.Join(", ", f);
        return $"{Int8Count}/{Layers.Count} quantized layers in int8 ({string.Join(", ", q)}); {floats}";
    }

    /// <summary>The per-layer table (module, runs as, int8, reason).</summary>
    public ScoreTable Table() => new("ONNX Runtime's optimized graph, per quantized layer",
        new[] { "module", "runs as", "int8", "reason" },
        Layers.Select(l => (IReadOnlyList<string>)new[] { l.ModulePath, l.RunsAs, l.Int8 ? "yes" : "no", l.Reason ?? "" }).ToList(), Array.Empty<int>());

    /// <summary>
    /// Opens <paramref name="int8Path"/> in ONNX Runtime (the runner's execution provider, full optimization) and
    /// reports how each quantized layer runs: the layers are those the file holds int8 weights for (a
    /// <c>&lt;module&gt;/weight.DequantizeLinear</c> node, as Slim's exporter names them). <paramref name="scratchDir"/>
    /// receives the optimized graph for the moment of reading it.
    /// </summary>
    public static Int8Deployability Analyze(string int8Path, string scratchDir, OrtRunnerOptions? options = null)
    {
        var runner = OrtRunner.Create((options ?? OrtRunnerOptions.Default) with { Optimization = OrtOptimizationLevel.All });
        Directory.CreateDirectory(scratchDir);
        var optimizedPath = Path.Combine(scratchDir, $".{Path.GetFileNameWithoutExtension(int8Path)}.ort-optimized.{Environment.ProcessId}.onnx");
        ModelProto optimized;
        try
        {
            runner.WriteOptimized(int8Path, optimizedPath);
            optimized = OnnxExporter.Load(optimizedPath);
        }
        finally
        {
            File.Delete(optimizedPath);
        }
        var written = OnnxExporter.Load(int8Path);
        return FromGraphs(written.Graph, optimized.Graph, QuantizedLayerPaths(written.Graph));
    }

    /// <summary>The module paths of the layers whose weights the graph holds in int8, in graph order.</summary>
    public static IReadOnlyList<string> QuantizedLayerPaths(GraphProto graph)
    {
        const string suffix = "/weight.DequantizeLinear";
        return graph.Node.Where(n => n.OpType == "DequantizeLinear" && n.Name.EndsWith(suffix, StringComparison.Ordinal))
            .Select(n => n.Name[..^suffix.Length]).Distinct().ToList();
    }

    /// <summary>The report as plain data (report.json, verify.json).</summary>
    public Int8DeploymentReport ToReport() => new(Summary(), Layers.Count, Int8Count, FloatFallbacks.ToList(), FloatOperators);

    /// <summary>The report from the written graph and the graph ONNX Runtime optimized from it.</summary>
    internal static Int8Deployability FromGraphs(GraphProto written, GraphProto optimized, IReadOnlyList<string> layers)
    {
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        var readers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var n in written.Node)
        {
            foreach (var o in n.Output) producers[o] = n;
            foreach (var i in n.Input.Where(i => i.Length > 0))
            {
                if (!readers.TryGetValue(i, out var list)) readers[i] = list = new List<NodeProto>();
                list.Add(n);
            }
        }
        var graphOutputs = written.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var result = new List<DeployedLayer>();
        var layerNodes = new HashSet<NodeProto>();
        foreach (var layer in layers)
        {
            string prefix = layer + "/";
            var node = optimized.Node.FirstOrDefault(n => n.Name.StartsWith(prefix, StringComparison.Ordinal) && (n.OpType is "Conv" or "FusedConv" or "Gemm" or "MatMul" || Int8Ops.Contains(n.OpType)));
            if (node is null)
            {
                result.Add(new DeployedLayer(layer, "(not found)", false, "no operator of this layer in ONNX Runtime's optimized graph"));
                continue;
            }
            layerNodes.Add(node);
            bool int8 = Int8Ops.Contains(node.OpType);
            result.Add(new DeployedLayer(layer, node.OpType, int8, int8 ? null : FallbackReason(layer, written, producers, readers, graphOutputs)));
        }
        var operators = optimized.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var floats = optimized.Node
            .Where(n => !layerNodes.Contains(n) && !Neutral.Contains(n.OpType) && !n.OpType.StartsWith("QLinear", StringComparison.Ordinal) && !Int8Ops.Contains(n.OpType)
                && n.OpType is not ("QuantizeLinear" or "DequantizeLinear"))
            .Select(n => $"{n.OpType} {n.Name}").ToList();
        return new Int8Deployability(result, operators, floats);
    }

    /// <summary>Why ONNX Runtime could not fuse the layer, read from the QDQ pattern around it in the written graph.</summary>
    private static string FallbackReason(string layer, GraphProto written, Dictionary<string, NodeProto> producers,
        Dictionary<string, List<NodeProto>> readers, HashSet<string> graphOutputs)
    {
        string prefix = layer + "/";
        var compute = written.Node.FirstOrDefault(n => n.Name.StartsWith(prefix, StringComparison.Ordinal) && n.OpType is "Conv" or "Gemm");
        if (compute is null) return "the layer has no Conv/Gemm in the written graph";
        if (compute.Input.Count > 2 && producers.TryGetValue(compute.Input[2], out var bias) && bias.OpType != "DequantizeLinear" || compute.Input.Count > 2 && !producers.ContainsKey(compute.Input[2]))
            return "its bias stayed float (its int32 codes would overflow: a tiny weight scale under a sizeable bias)";
        var output = compute.Output[0];
        if (graphOutputs.Contains(output)) return "its output is a model output: nothing quantizes it";
        if (!readers.TryGetValue(output, out var next) || next.Count == 0) return "its output is not read";
        if (next.Count > 1) return $"its output has {next.Count} readers; ONNX Runtime needs one QuantizeLinear";
        if (next[0].OpType != "QuantizeLinear")
            return $"its output goes to {next[0].OpType} ({next[0].Name}), not to a QuantizeLinear: no quantization point on it";
        return "ONNX Runtime did not fuse the DequantizeLinear → " + compute.OpType + " → QuantizeLinear group (an unsupported attribute or type)";
    }
}

/// <summary>The deployability report as data: what report.json and verify.json keep.</summary>
/// <param name="Summary">The one-line summary (<see cref="Int8Deployability.Summary"/>).</param>
/// <param name="QuantizedLayers">Layers with int8 weights in the file.</param>
/// <param name="Int8Layers">Those ONNX Runtime runs as int8 operators.</param>
/// <param name="FloatFallbacks">The others, with the reason.</param>
/// <param name="FloatOperators">Other compute operators that run in float.</param>
public sealed record Int8DeploymentReport(string Summary, int QuantizedLayers, int Int8Layers, IReadOnlyList<DeployedLayer> FloatFallbacks, IReadOnlyList<string> FloatOperators);
