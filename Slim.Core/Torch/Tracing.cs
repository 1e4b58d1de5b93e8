namespace Slim.Torch;

/// <summary>One operator call seen while tracing.</summary>
public sealed class TraceNode
{
    internal TraceNode(int index, AtenOp op, OpArg[] args, int[][] argValues, int[] outputs, string modulePath, torch.nn.Module? module)
    {
        Index = index;
        Op = op;
        Args = args;
        ArgValues = argValues;
        Outputs = outputs;
        ModulePath = modulePath;
        Module = module;
    }

    public int Index { get; }
    public AtenOp Op { get; }
    /// <summary>The operator name without namespace or overload ("conv2d").</summary>
    public string Kind => Op.Name.StartsWith("aten::", StringComparison.Ordinal) ? Op.Name[6..] : Op.Name;
    /// <summary>The arguments as passed (tensors are the traced values, see <see cref="ArgValues"/>).</summary>
    public OpArg[] Args { get; }
    /// <summary>For each argument, the value ids of its tensors (empty for non-tensors).</summary>
    public int[][] ArgValues { get; }
    /// <summary>Value ids of the tensor outputs.</summary>
    public int[] Outputs { get; }
    /// <summary>Dotted path of the innermost module running when the op was called ("" for the root).</summary>
    public string ModulePath { get; }
    public torch.nn.Module? Module { get; }

    /// <summary>The single value id of argument i, or -1 when it is not one tensor.</summary>
    public int ValueOfArg(int i) => i < ArgValues.Length && ArgValues[i].Length == 1 && Args[i].AsTensor is not null ? ArgValues[i][0] : -1;

    public override string ToString() =>
        $"%{string.Join(",%", Outputs)} = {Op.FullName}({string.Join(", ", Args.Select((a, i) => ArgValues[i].Length > 0 ? "%" + string.Join(",%", ArgValues[i]) : a.ToString()))})" +
        (ModulePath.Length > 0 ? $"  # {ModulePath}" : "");
}

/// <summary>
/// A record of every ATen operator a forward pass calls, with tensors numbered as values and
/// parameters recognised by identity. Pruning derives its channel dependency graph from it,
/// and the ONNX exporter its graph, so neither needs per-model code.
/// </summary>
public sealed class Trace : IDisposable
{
    private readonly Dictionary<IntPtr, int> _valueOf = new();
    private readonly List<Tensor> _keepAlive = new();
    private readonly List<TraceNode> _nodes = new();
    private readonly Dictionary<int, string> _paramName = new();
    private readonly Dictionary<int, string> _bufferName = new();
    private readonly Dictionary<int, int> _producer = new();
    private readonly Dictionary<torch.nn.Module, string> _modulePath = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<int, long[]> _shapes = new();

    private Trace() { }

    public IReadOnlyList<TraceNode> Nodes => _nodes;
    /// <summary>Value ids of the inputs given to <see cref="Run"/>.</summary>
    public IReadOnlyList<int> Inputs { get; private set; } = Array.Empty<int>();
    /// <summary>Value ids of the outputs the forward returned.</summary>
    public IReadOnlyList<int> Outputs { get; private set; } = Array.Empty<int>();
    public int ValueCount => _valueOf.Count;

    /// <summary>Runs forward(inputs) on model with tracing on (no gradients), and records every op.</summary>
    public static Trace Run(torch.nn.Module model, Tensor[] inputs, Func<Tensor[], IEnumerable<Tensor>> forward)
    {
        var trace = new Trace();
        foreach (var (path, m) in model.named_modules()) trace._modulePath[m] = path;
        foreach (var (name, p) in model.named_parameters()) trace._paramName[trace.ValueId(p)] = name;
        foreach (var (name, b) in model.named_buffers()) trace._bufferName[trace.ValueId(b)] = name;
        trace.Inputs = inputs.Select(trace.ValueId).ToArray();
        var previous = AtenOp.Observer;
        AtenOp.Observer = trace.Record;
        try
        {
            using var _ = torch.no_grad();
            var outs = forward(inputs).ToArray();
            AtenOp.Observer = previous;
            trace.Outputs = outs.Select(trace.ValueId).ToArray();
            foreach (var o in outs) trace._keepAlive.Add(o.alias().DetachFromDisposeScope());
        }
        finally
        {
            AtenOp.Observer = previous;
        }
        return trace;
    }

    private int ValueId(Tensor t)
    {
        var id = t.Identity;
        if (!_valueOf.TryGetValue(id, out var v))
        {
            v = _valueOf.Count;
            _valueOf[id] = v;
            // Hold the tensor so its identity cannot be reused by a later allocation.
            _keepAlive.Add(t.alias().DetachFromDisposeScope());
            _shapes[v] = t.shape;
        }
        return v;
    }

    private void Record(AtenOp op, OpArg[] args, Tensor[] outputs)
    {
        var argValues = args.Select(a => a.Tensors.Select(ValueId).ToArray()).ToArray();
        var outs = outputs.Select(ValueId).ToArray();
        var stack = torch.nn.Module.CallStack;
        var module = stack.Count > 0 ? stack[^1] : null;
        var path = module is not null && _modulePath.TryGetValue(module, out var p) ? p : "";
        var node = new TraceNode(_nodes.Count, op, args, argValues, outs, path, module);
        foreach (var o in outs) _producer.TryAdd(o, node.Index);
        _nodes.Add(node);
    }

    /// <summary>The parameter name of a value, or null when it is not a parameter.</summary>
    public string? ParameterName(int value) => _paramName.TryGetValue(value, out var n) ? n : null;
    public string? BufferName(int value) => _bufferName.TryGetValue(value, out var n) ? n : null;
    /// <summary>The node that produced a value, or null for inputs, parameters and constants.</summary>
    public TraceNode? Producer(int value) => _producer.TryGetValue(value, out var i) ? _nodes[i] : null;
    /// <summary>Nodes that take the value as an argument.</summary>
    public IEnumerable<TraceNode> Consumers(int value) => _nodes.Where(n => n.ArgValues.Any(a => a.Contains(value)));
    public long[] Shape(int value) => _shapes[value];

    public override string ToString() => string.Join("\n", _nodes);

    public void Dispose()
    {
        foreach (var t in _keepAlive) t.Dispose();
        _keepAlive.Clear();
    }
}
