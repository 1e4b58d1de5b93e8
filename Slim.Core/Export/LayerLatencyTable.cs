using System.Globalization;
using System.Text.Json;

namespace Slim.Export;

/// <summary>One layer's share of a run: its kernels' time per run and the operator that took most of it.</summary>
/// <param name="ModulePath">The Slim module path ("(other)" for kernels of no layer).</param>
/// <param name="Operator">The ONNX Runtime operator of its slowest kernel (Conv, FusedConv, QLinearConv, …).</param>
/// <param name="Ms">Kernel time per run, in milliseconds.</param>
public sealed record LayerTime(string ModulePath, string Operator, double Ms);

/// <summary>
/// A per-layer latency table of one ONNX model on one machine (<see cref="OrtRunner.MeasureLayers"/>): what
/// latency-aware compression weighs layers by. Measured where the model will run and carried as JSON
/// (<see cref="ToJson"/> / <see cref="FromJson"/>).
/// </summary>
public sealed record LayerLatencyTable
{
    /// <summary>The model file's name.</summary>
    public required string Model { get; init; }
    /// <summary>ONNX Runtime intra-op threads.</summary>
    public required int Threads { get; init; }
    /// <summary>Untimed runs before the profiled ones.</summary>
    public required int Warmup { get; init; }
    /// <summary>Profiled runs the times are averaged over.</summary>
    public required int Runs { get; init; }
    /// <summary>Median wall time of one run, in milliseconds (kernels plus the runtime's own work).</summary>
    public required double MedianMs { get; init; }
    /// <summary>Every layer, slowest first; their sum is the kernel time of a run.</summary>
    public required IReadOnlyList<LayerTime> Layers { get; init; }
    /// <summary>The machine it was measured on (host name and processor count), for the reader of a table that travelled.</summary>
    public string Machine { get; init; } = $"{Environment.MachineName}, {Environment.ProcessorCount} logical processors";

    /// <summary>Kernel time of one run, in milliseconds.</summary>
    public double KernelMs => Layers.Sum(l => l.Ms);

    public const string Other = "(other)";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>A table from <see cref="ToJson"/>'s text; <paramref name="source"/> names it in errors.</summary>
    public static LayerLatencyTable FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<LayerLatencyTable>(json, Json) ?? throw new InvalidDataException($"{source}: empty latency table");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not a latency table written by slim latency-table ({e.Message})");
        }
    }

    /// <summary>
    /// Sums ONNX Runtime's profile (its JSON trace: one "Node" event per kernel run, named "&lt;node&gt;_kernel_time") per
    /// layer, over the profiled runs (each kernel's first <paramref name="warmup"/> runs left out). <paramref name="layerOf"/>
    /// names a node's layer; by default the node name up to its last "/" ("backbone.conv1.conv/Conv" → "backbone.conv1.conv").
    /// </summary>
    public static LayerLatencyTable FromProfile(string profileJson, string model, int threads, int warmup, int runs, double medianMs,
        Func<string, string>? layerOf = null)
    {
        layerOf ??= PathOf;
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        using var doc = JsonDocument.Parse(profileJson);
        var us = new Dictionary<string, double>(StringComparer.Ordinal);
        var ops = new Dictionary<string, Dictionary<string, double>>(StringComparer.Ordinal);
        int events = 0;
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
            var name = e.GetProperty("name").GetString()!;
            const string suffix = "_kernel_time";
            if (!name.EndsWith(suffix, StringComparison.Ordinal)) continue;
            name = name[..^suffix.Length];
            int occurrence = seen.GetValueOrDefault(name);
            seen[name] = occurrence + 1;
            if (occurrence < warmup) continue;
            var path = layerOf(name);
            double d = e.GetProperty("dur").GetDouble();
            var op = e.TryGetProperty("args", out var args) && args.TryGetProperty("op_name", out var o) ? o.GetString() ?? "?" : "?";
            us[path] = us.GetValueOrDefault(path) + d;
            if (!ops.TryGetValue(path, out var byOp)) ops[path] = byOp = new Dictionary<string, double>(StringComparer.Ordinal);
            byOp[op] = byOp.GetValueOrDefault(op) + d;
            events++;
        }
        if (events == 0) throw new InvalidDataException("the ONNX Runtime profile holds no kernel times");
        var layers = us.Select(kv => new LayerTime(kv.Key, ops[kv.Key].MaxBy(p => p.Value).Key, kv.Value / runs / 1000))
            .OrderByDescending(l => l.Ms).ThenBy(l => l.ModulePath, StringComparer.Ordinal).ToList();
        return new LayerLatencyTable { Model = model, Threads = threads, Warmup = warmup, Runs = runs, MedianMs = medianMs, Layers = layers };
    }

    /// <summary>A node's module path: its name up to the last "/" (Slim names nodes "path/Op"), else <see cref="Other"/>.</summary>
    public static string PathOf(string nodeName)
    {
        int slash = nodeName.LastIndexOf('/');
        return slash > 0 ? nodeName[..slash] : Other;
    }

    /// <summary>
    /// Names the layer of a node of ONNX Runtime's optimized graph from the written graph: a fused conv keeps the name of
    /// the node it absorbed last (the activation after a conv: "backbone.conv1.act/Relu"), so a node that is no conv is
    /// followed up its first input through at most four nodes to the conv or gemm that feeds it.
    /// </summary>
    public static Func<string, string> Resolver(Onnx.GraphProto written)
    {
        var byName = new Dictionary<string, Onnx.NodeProto>(StringComparer.Ordinal);
        var producer = new Dictionary<string, Onnx.NodeProto>(StringComparer.Ordinal);
        foreach (var n in written.Node)
        {
            byName.TryAdd(n.Name, n);
            foreach (var o in n.Output) producer[o] = n;
        }
        return name =>
        {
            // ONNX Runtime's NCHWc layout pass names the nodes it makes after their output ("…/Relu_1_nchwc").
            var bare = name.EndsWith("_nchwc", StringComparison.Ordinal) ? name[..^"_nchwc".Length] : name;
            if (!byName.TryGetValue(bare, out var n) && !producer.TryGetValue(bare, out n)) return PathOf(name);
            for (int hops = 0; hops < 5 && n is not null; hops++)
            {
                if (n.OpType is "Conv" or "Gemm" or "MatMul" or "ConvTranspose") return PathOf(n.Name);
                if (n.Input.Count == 0 || !producer.TryGetValue(n.Input[0], out var p)) break;
                n = p;
            }
            return PathOf(name);
        };
    }

    /// <summary>"12.34": milliseconds as the table prints them.</summary>
    public static string Ms2(double ms) => ms.ToString("F3", CultureInfo.InvariantCulture);
}
