using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Compression.Pruning;

/// <summary>
/// Which channels of which layers must be pruned together, derived from a trace of one forward
/// pass (never from per-model code). Every tensor's channel axis (dim 1) is a list of channel
/// slots; ops either create fresh slots (a convolution's outputs), pass them on (batch norm,
/// activations, pooling, upsample, depthwise convolution), rearrange them (concat, flatten) or
/// couple them one to one (residual add, SE multiply), which unites the slots. Groups are the
/// sets of producing layers whose slots end up united; every layer whose axis holds a group's
/// slots is a member of it.
/// </summary>
public sealed class ChannelDependencyGraph
{
    private readonly Dictionary<string, GroupMember> _convWeights;
    private readonly Dictionary<string, int> _groupOfParameter;

    private ChannelDependencyGraph(IReadOnlyList<ChannelGroup> groups, Dictionary<string, GroupMember> convWeights,
        Dictionary<string, int> groupOfParameter, IReadOnlyList<string> parameterNames, IReadOnlyList<ComputeNode> computeNodes)
    {
        Groups = groups;
        _convWeights = convWeights;
        _groupOfParameter = groupOfParameter;
        ParameterNames = parameterNames;
        ComputeNodes = computeNodes;
    }

    /// <summary>All channel groups, in the order their first producer ran.</summary>
    public IReadOnlyList<ChannelGroup> Groups { get; }

    /// <summary>Every parameter name of the model the graph was built from (for name matching).</summary>
    public IReadOnlyList<string> ParameterNames { get; }

    /// <summary>Weights of all traced Conv2d layers (normal, depthwise and grouped), in trace order.</summary>
    public IEnumerable<string> ConvWeights => _convWeights.Keys;

    /// <summary>The conv and linear calls of the forward, for counting MACs under a pruning.</summary>
    internal IReadOnlyList<ComputeNode> ComputeNodes { get; }

    /// <summary>Groups that can be pruned.</summary>
    public IEnumerable<ChannelGroup> PrunableGroups => Groups.Where(g => g.IsPrunable);

    /// <summary>
    /// Traces model on the sample inputs and builds the graph. The trace runs in eval mode (so
    /// batch norm statistics are not updated and dropout is off); each module's mode is restored after.
    /// </summary>
    public static ChannelDependencyGraph Build(torch.nn.Module model, Tensor[] sampleInputs, Func<Tensor[], IEnumerable<Tensor>> forward)
    {
        var modes = model.modules().Select(m => (m, m.training)).ToList();
        model.eval();
        try
        {
            using var scope = torch.NewDisposeScope();
            using var trace = Trace.Run(model, sampleInputs, forward);
            return new Builder(model, trace).Build();
        }
        finally
        {
            // Pre-order: a parent's recursive train() is corrected by its children's own calls after it.
            foreach (var (m, training) in modes) m.train(training);
        }
    }

    /// <summary>Builds the graph of a model with one input tensor whose forward returns one tensor.</summary>
    public static ChannelDependencyGraph Build(torch.nn.Module<Tensor, Tensor> model, Tensor sampleInput) =>
        Build(model, new[] { sampleInput }, xs => new[] { model.call(xs[0]) });

    /// <summary>
    /// The group whose channels the convolution weight <paramref name="parameter"/> produces.
    /// Throws a <see cref="PruningException"/> naming what is wrong when it is not a prunable conv weight.
    /// </summary>
    public ChannelGroup GroupOf(string parameter)
    {
        if (!_convWeights.TryGetValue(parameter, out var member))
        {
            if (ParameterNames.Contains(parameter))
                throw new PruningException($"'{parameter}' is not the weight of a Conv2d that runs in the forward pass; " +
                    $"pruned parameters are convolution weights such as '{_convWeights.Keys.FirstOrDefault() ?? "conv.weight"}'");
            throw new PruningException($"no parameter '{parameter}' in the model" + Slim.Common.Suggest.NearestClause(parameter, ParameterNames));
        }
        if (!_groupOfParameter.TryGetValue(parameter, out var gid))
            throw new PruningException($"'{parameter}' is a grouped convolution weight ({member.ModulePath}); its channels cannot be pruned");
        var g = Groups[gid];
        if (member.Role == MemberRole.DepthwiseConv)
        {
            var producer = g.SourceParameters.FirstOrDefault();
            throw new PruningException($"'{parameter}' is a depthwise convolution: its channels follow its input" +
                (producer is null ? "" : $"; name the producing convolution '{producer}' instead"));
        }
        if (!g.IsPrunable)
            throw new PruningException($"the channels of '{parameter}' cannot be pruned: {string.Join("; ", g.UnprunableReasons)}");
        return g;
    }

    /// <summary>Whether a parameter is a depthwise convolution weight (globs skip those: they follow their producer).</summary>
    public bool IsDepthwiseWeight(string parameter) =>
        _convWeights.TryGetValue(parameter, out var m) && m.Role == MemberRole.DepthwiseConv;

    /// <summary>Why a group whose channels are a model output cannot be pruned.</summary>
    internal const string OutputReason = "its channels reach a model output";

    /// <summary>
    /// Whether a conv weight's output channels are channels of a model output (a classifier's or segmenter's class maps):
    /// never prunable, so globs skip them as they skip depthwise weights.
    /// </summary>
    public bool FeedsModelOutput(string parameter) =>
        _groupOfParameter.TryGetValue(parameter, out var gid) && Groups[gid].UnprunableReasons.Contains(OutputReason);

    /// <summary>Whether a parameter is a traced Conv2d weight.</summary>
    public bool IsConvWeight(string parameter) => _convWeights.ContainsKey(parameter);

    public override string ToString() => string.Join("\n", Groups);

    /// <summary>A conv or linear call: enough to count its MACs when channels are removed.</summary>
    internal sealed record ComputeNode(string ModulePath, bool IsLinear, long InChannels, long OutChannels, long Groups,
        long MacsPerChannelPair, AxisRef? InAxis, AxisRef? OutAxis);

    /// <summary>One layer axis: per index, the group and channel it carries (group -1: none).</summary>
    internal sealed record AxisRef(int[] GroupOfPosition, int[] ChannelOfPosition);

    private sealed class Axis
    {
        public required string ModulePath;
        public required MemberRole Role;
        public string? Parameter;
        public required int[] Slots;
        public string? Reason;
        public int Order;
    }

    private sealed class Builder
    {
        private readonly torch.nn.Module _model;
        private readonly Trace _trace;
        private readonly List<int> _parent = new();
        private readonly Dictionary<int, int[]> _map = new();
        private readonly List<Axis> _axes = new();
        private readonly Dictionary<(string, MemberRole), Axis> _moduleAxes = new();
        private readonly Dictionary<int, List<string>> _slotReasons = new();
        private readonly Dictionary<string, GroupMember> _convWeights = new();
        private readonly List<(string path, bool linear, long cin, long cout, long groups, long macs, Axis? inAxis, Axis? outAxis)> _compute = new();

        public Builder(torch.nn.Module model, Trace trace)
        {
            _model = model;
            _trace = trace;
        }

        private int NewSlot()
        {
            _parent.Add(_parent.Count);
            return _parent.Count - 1;
        }

        private int Find(int s)
        {
            while (_parent[s] != s)
            {
                _parent[s] = _parent[_parent[s]];
                s = _parent[s];
            }
            return s;
        }

        private void Union(int a, int b)
        {
            a = Find(a);
            b = Find(b);
            if (a != b) _parent[Math.Max(a, b)] = Math.Min(a, b);
        }

        private Axis NewAxis(string path, MemberRole role, long channels, string? parameter = null, string? reason = null)
        {
            var slots = new int[channels];
            for (int i = 0; i < channels; i++) slots[i] = NewSlot();
            var a = new Axis { ModulePath = path, Role = role, Parameter = parameter, Slots = slots, Reason = reason, Order = _axes.Count };
            _axes.Add(a);
            return a;
        }

        /// <summary>The axis a module keeps across calls, so a layer used twice couples both uses.</summary>
        private Axis ModuleAxis(string path, MemberRole role, long channels, string? parameter)
        {
            if (_moduleAxes.TryGetValue((path, role), out var a)) return a;
            a = NewAxis(path, role, channels, parameter);
            _moduleAxes[(path, role)] = a;
            return a;
        }

        private void UnionAll(int[] a, int[] b)
        {
            if (a.Length != b.Length)
                throw new PruningException($"channel graph: cannot couple {a.Length} with {b.Length} channels");
            for (int i = 0; i < a.Length; i++) Union(a[i], b[i]);
        }

        private void Flag(int[]? slots, string reason)
        {
            if (slots is null) return;
            foreach (var s in slots)
            {
                if (!_slotReasons.TryGetValue(s, out var list)) _slotReasons[s] = list = new List<string>();
                if (!list.Contains(reason)) list.Add(reason);
            }
        }

        private long[] Shape(int v) => _trace.Shape(v);

        /// <summary>The channel slots of a value; values nobody produced (inputs, constants) get fixed slots.</summary>
        private int[]? MapOf(int v)
        {
            if (v < 0) return null;
            if (_map.TryGetValue(v, out var m)) return m;
            var shape = Shape(v);
            if (shape.Length < 2) return null;
            string reason = _trace.Inputs.Contains(v) ? "its channels come from the model input"
                : _trace.ParameterName(v) is { } p ? $"it is combined with the parameter '{p}'"
                : _trace.BufferName(v) is { } b ? $"it is combined with the buffer '{b}'"
                : "it is combined with a tensor created inside the forward pass";
            var axis = NewAxis("", MemberRole.Fixed, shape[1], reason: reason);
            _map[v] = axis.Slots;
            return axis.Slots;
        }

        private void Fresh(TraceNode node, string reason)
        {
            foreach (var o in node.Outputs)
            {
                var s = Shape(o);
                if (s.Length < 2) continue;
                _map[o] = NewAxis(node.ModulePath, MemberRole.Fixed, s[1], reason: reason).Slots;
            }
        }

        private void PassThrough(TraceNode node, int input)
        {
            var m = MapOf(input);
            foreach (var o in node.Outputs)
            {
                var s = Shape(o);
                if (m is not null && s.Length >= 2 && s[1] == m.Length && s[0] == Shape(input)[0]) _map[o] = m;
                else Unknown(node);
            }
        }

        private static readonly HashSet<string> Elementwise = new()
        {
            "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "hardswish", "hardswish_",
            "hardsigmoid", "hardsigmoid_", "sigmoid", "sigmoid_", "tanh", "tanh_", "silu", "gelu", "elu", "mish",
            "clamp", "clamp_", "clamp_min", "clamp_max", "dropout", "feature_dropout", "clone", "contiguous", "detach",
            "alias", "to", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d",
            "adaptive_max_pool2d", "upsample_nearest2d", "upsample_bilinear2d", "neg", "abs", "exp", "sqrt", "square",
            "pow", "add_", "mul_", "div_", "sub_", "constant_pad_nd",
        };

        private static readonly HashSet<string> Binary = new()
        {
            "add", "sub", "mul", "div", "maximum", "minimum", "add_", "sub_", "mul_", "div_", "rsub",
        };

        private static readonly HashSet<string> LayoutPreserving = new() { "view", "reshape", "squeeze", "unsqueeze", "flatten" };

        public ChannelDependencyGraph Build()
        {
            foreach (var node in _trace.Nodes) Visit(node);
            foreach (var o in _trace.Outputs) Flag(MapOf(o), OutputReason);
            return Finish();
        }

        private void Visit(TraceNode node)
        {
            var kind = node.Kind;
            switch (kind)
            {
                case "conv2d":
                    if (VisitConv(node)) return;
                    break;
                case "batch_norm":
                    if (node.Module is BatchNorm2d && node.ValueOfArg(0) is var bi && MapOf(bi) is { } bm)
                    {
                        var axis = ModuleAxis(node.ModulePath, MemberRole.BatchNorm, bm.Length, null);
                        UnionAll(axis.Slots, bm);
                        _map[node.Outputs[0]] = axis.Slots;
                        return;
                    }
                    break;
                case "linear":
                    if (VisitLinear(node)) return;
                    break;
                case "cat":
                    VisitCat(node);
                    return;
                case "flatten":
                case "view":
                case "reshape":
                case "squeeze":
                case "unsqueeze":
                    if (VisitReshape(node)) return;
                    break;
                case "mean":
                case "sum":
                case "amax":
                    if (VisitReduction(node)) return;
                    break;
            }
            // Scalar overloads of the binary ops (x * 0.5) pass channels through unchanged.
            if (Binary.Contains(kind) && node.Args.Count(a => a.AsTensor is not null) >= 2 && VisitBinary(node)) return;
            if ((Elementwise.Contains(kind) || Binary.Contains(kind)) && node.ValueOfArg(0) >= 0)
            {
                PassThrough(node, node.ValueOfArg(0));
                return;
            }
            Unknown(node);
        }

        private void Unknown(TraceNode node)
        {
            var where = node.ModulePath.Length > 0 ? $" in '{node.ModulePath}'" : "";
            foreach (var vs in node.ArgValues)
                foreach (var v in vs)
                    if (_map.TryGetValue(v, out var m) || (Shape(v).Length >= 2 && (m = MapOf(v)) is not null))
                        Flag(m, $"its channels feed aten::{node.Kind}{where}, which channel pruning cannot follow (only flatten before a Linear is supported)");
            Fresh(node, $"its channels come from aten::{node.Kind}{where}");
        }

        private bool VisitConv(TraceNode node)
        {
            int input = node.ValueOfArg(0), weight = node.ValueOfArg(1);
            var wname = weight >= 0 ? _trace.ParameterName(weight) : null;
            if (node.Module is not Conv2d conv || wname is null || wname != Join(node.ModulePath, conv.WeightName)) return false;
            var ws = Shape(weight);
            long cout = ws[0], cinPerGroup = ws[1], groups = node.Args[6].AsInts?[0] ?? 1, cin = cinPerGroup * groups;
            var outShape = Shape(node.Outputs[0]);
            long macs = ws[2] * ws[3] * outShape[2] * outShape[3];
            var inMap = MapOf(input)!;
            if (groups == 1)
            {
                var inAxis = ModuleAxis(node.ModulePath, MemberRole.ConvInput, cin, wname);
                UnionAll(inAxis.Slots, inMap);
                var outAxis = ModuleAxis(node.ModulePath, MemberRole.ConvOutput, cout, wname);
                _map[node.Outputs[0]] = outAxis.Slots;
                _convWeights.TryAdd(wname, new GroupMember(node.ModulePath, MemberRole.ConvOutput, wname, Array.Empty<int>()));
                _compute.Add((node.ModulePath, false, cin, cout, 1, macs, inAxis, outAxis));
            }
            else if (groups == cin && cout % cin == 0)
            {
                // Depthwise, also with a channel multiplier k (SSDLite's extra blocks): output j filters input j / k, so
                // pruning an input channel removes its k outputs.
                long k = cout / cin;
                var axis = ModuleAxis(node.ModulePath, MemberRole.DepthwiseConv, cout, wname);
                if (inMap.Length * k != axis.Slots.Length)
                    throw new PruningException($"channel graph: cannot couple {inMap.Length} input channels with {axis.Slots.Length} depthwise outputs");
                for (int j = 0; j < axis.Slots.Length; j++) Union(axis.Slots[j], inMap[j / k]);
                _map[node.Outputs[0]] = axis.Slots;
                _convWeights.TryAdd(wname, new GroupMember(node.ModulePath, MemberRole.DepthwiseConv, wname, Array.Empty<int>()));
                _compute.Add((node.ModulePath, false, cin, cout, groups, macs, axis, axis));
            }
            else
            {
                Flag(inMap, $"its channels feed the grouped convolution '{node.ModulePath}' (groups={groups})");
                var outAxis = NewAxis(node.ModulePath, MemberRole.Fixed, cout, wname,
                    $"its channels come from the grouped convolution '{node.ModulePath}' (groups={groups})");
                _map[node.Outputs[0]] = outAxis.Slots;
                _convWeights.TryAdd(wname, new GroupMember(node.ModulePath, MemberRole.Fixed, wname, Array.Empty<int>()));
                _compute.Add((node.ModulePath, false, cin, cout, groups, macs, null, null));
            }
            return true;
        }

        private bool VisitLinear(TraceNode node)
        {
            int input = node.ValueOfArg(0), weight = node.ValueOfArg(1);
            var wname = weight >= 0 ? _trace.ParameterName(weight) : null;
            if (node.Module is not Linear lin || wname is null || wname != Join(node.ModulePath, lin.WeightName)) return false;
            var inShape = Shape(input);
            if (inShape.Length != 2) return false;
            var ws = Shape(weight);
            var inAxis = ModuleAxis(node.ModulePath, MemberRole.LinearInput, ws[1], wname);
            UnionAll(inAxis.Slots, MapOf(input)!);
            var outAxis = ModuleAxis(node.ModulePath, MemberRole.Fixed, ws[0], wname);
            outAxis.Reason = $"its channels are the outputs of the Linear layer '{node.ModulePath}'";
            _map[node.Outputs[0]] = outAxis.Slots;
            _compute.Add((node.ModulePath, true, ws[1], ws[0], 1, 1, inAxis, null));
            return true;
        }

        private void VisitCat(TraceNode node)
        {
            var inputs = node.ArgValues[0];
            var outShape = Shape(node.Outputs[0]);
            long dim = node.Args.Length > 1 ? node.Args[1].AsInts?[0] ?? 0 : 0;
            if (dim < 0) dim += outShape.Length;
            var maps = inputs.Select(MapOf).ToArray();
            if (outShape.Length < 2 || maps.Any(m => m is null))
            {
                Unknown(node);
                return;
            }
            if (dim == 1)
            {
                _map[node.Outputs[0]] = maps.SelectMany(m => m!).ToArray();
                return;
            }
            // Concatenating along another axis: channel i of every input is channel i of the result.
            for (int i = 1; i < maps.Length; i++) UnionAll(maps[0]!, maps[i]!);
            _map[node.Outputs[0]] = maps[0]!;
        }

        private bool VisitBinary(TraceNode node)
        {
            var outShape = Shape(node.Outputs[0]);
            if (outShape.Length < 2) return false;
            long c = outShape[1];
            int[]? result = null;
            var others = new List<int[]>();
            for (int i = 0; i < node.Args.Length; i++)
            {
                int v = node.ValueOfArg(i);
                if (v < 0) continue;
                var s = Shape(v);
                int aligned = s.Length - (outShape.Length - 1);
                if (aligned < 0 || s[aligned] == 1) continue;
                if (aligned != 1)
                {
                    // A lower-rank tensor spans the channel axis: its values would have to shrink too.
                    var fixedAxis = NewAxis(node.ModulePath, MemberRole.Fixed, c,
                        reason: $"its channels are combined in aten::{node.Kind} with a tensor of shape [{string.Join(", ", s)}]");
                    others.Add(fixedAxis.Slots);
                    continue;
                }
                var m = MapOf(v)!;
                if (result is null) result = m;
                else others.Add(m);
            }
            if (result is null) return false;
            foreach (var o in others) UnionAll(result, o);
            _map[node.Outputs[0]] = result;
            return true;
        }

        private bool VisitReshape(TraceNode node)
        {
            int input = node.ValueOfArg(0);
            if (input < 0 || MapOf(input) is not { } m) return false;
            var inShape = Shape(input);
            var outShape = Shape(node.Outputs[0]);
            if (outShape.Length >= 2 && outShape[0] == inShape[0] && outShape[1] == inShape[1])
            {
                _map[node.Outputs[0]] = m;
                return true;
            }
            // Flatten of [N, C, H, W] to [N, C*H*W]: each channel becomes H*W consecutive features.
            long spatial = 1;
            for (int i = 2; i < inShape.Length; i++) spatial *= inShape[i];
            if (outShape.Length == 2 && outShape[0] == inShape[0] && outShape[1] == inShape[1] * spatial)
            {
                var flat = new int[outShape[1]];
                for (int ch = 0; ch < m.Length; ch++)
                    for (long k = 0; k < spatial; k++) flat[ch * spatial + k] = m[ch];
                _map[node.Outputs[0]] = flat;
                return true;
            }
            return false;
        }

        private bool VisitReduction(TraceNode node)
        {
            int input = node.ValueOfArg(0);
            if (input < 0 || node.Args.Length < 2 || node.Args[1].AsInts is not { } dims) return false;
            var inShape = Shape(input);
            if (dims.Any(d => (d < 0 ? d + inShape.Length : d) <= 1)) return false;
            PassThrough(node, input);
            return true;
        }

        private static string Join(string path, string leaf) => path.Length == 0 ? leaf : path + "." + leaf;

        private ChannelDependencyGraph Finish()
        {
            // Groups: producers (conv outputs and fixed origins) that share a united slot.
            var sources = _axes.Where(a => a.Role is MemberRole.ConvOutput or MemberRole.Fixed).ToList();
            var groupOfRoot = new Dictionary<int, int>();
            var sourceParent = Enumerable.Range(0, sources.Count).ToArray();
            int FindS(int s) { while (sourceParent[s] != s) s = sourceParent[s] = sourceParent[sourceParent[s]]; return s; }
            var ownerOfRoot = new Dictionary<int, int>();
            for (int i = 0; i < sources.Count; i++)
                foreach (var slot in sources[i].Slots)
                {
                    var r = Find(slot);
                    if (ownerOfRoot.TryGetValue(r, out var j)) { var a = FindS(i); var b = FindS(j); if (a != b) sourceParent[Math.Max(a, b)] = Math.Min(a, b); }
                    else ownerOfRoot[r] = i;
                }
            // Channels of each group, numbered by first appearance among its producers in trace order.
            var componentToGroup = new Dictionary<int, int>();
            var channelOfRoot = new Dictionary<int, (int group, int channel)>();
            var groupChannels = new List<int>();
            var groupReasons = new List<List<string>>();
            for (int i = 0; i < sources.Count; i++)
            {
                var comp = FindS(i);
                if (!componentToGroup.TryGetValue(comp, out var gid))
                {
                    gid = groupChannels.Count;
                    componentToGroup[comp] = gid;
                    groupChannels.Add(0);
                    groupReasons.Add(new List<string>());
                }
                if (sources[i].Reason is { } reason && !groupReasons[gid].Contains(reason)) groupReasons[gid].Add(reason);
                foreach (var slot in sources[i].Slots)
                {
                    var r = Find(slot);
                    if (!channelOfRoot.ContainsKey(r)) channelOfRoot[r] = (gid, groupChannels[gid]++);
                }
            }
            foreach (var (slot, reasons) in _slotReasons)
                if (channelOfRoot.TryGetValue(Find(slot), out var gc))
                    foreach (var reason in reasons)
                        if (!groupReasons[gc.group].Contains(reason)) groupReasons[gc.group].Add(reason);

            var refs = new Dictionary<Axis, AxisRef>();
            var members = Enumerable.Range(0, groupChannels.Count).Select(_ => new List<GroupMember>()).ToList();
            foreach (var axis in _axes)
            {
                var gOf = new int[axis.Slots.Length];
                var cOf = new int[axis.Slots.Length];
                for (int p = 0; p < axis.Slots.Length; p++)
                {
                    if (channelOfRoot.TryGetValue(Find(axis.Slots[p]), out var gc)) (gOf[p], cOf[p]) = gc;
                    else (gOf[p], cOf[p]) = (-1, -1);
                }
                refs[axis] = new AxisRef(gOf, cOf);
                if (axis.Role == MemberRole.Fixed) continue;
                foreach (var g in gOf.Where(g => g >= 0).Distinct())
                    members[g].Add(new GroupMember(axis.ModulePath, axis.Role, axis.Parameter,
                        gOf.Select((x, p) => x == g ? cOf[p] : -1).ToArray()));
            }
            for (int g = 0; g < members.Count; g++)
                if (!members[g].Any(m => m.Role == MemberRole.ConvOutput) && groupReasons[g].Count == 0)
                    groupReasons[g].Add("no convolution produces its channels");
            var groups = members.Select((m, g) => new ChannelGroup(g, groupChannels[g], m, groupReasons[g])).ToList();

            var groupOfParameter = new Dictionary<string, int>();
            foreach (var axis in _axes)
                if (axis.Parameter is not null && axis.Role is MemberRole.ConvOutput or MemberRole.DepthwiseConv)
                    foreach (var g in refs[axis].GroupOfPosition.Where(g => g >= 0).Distinct())
                        groupOfParameter.TryAdd(axis.Parameter, g);
            var compute = _compute.Select(c => new ComputeNode(c.path, c.linear, c.cin, c.cout, c.groups, c.macs,
                c.inAxis is null ? null : refs[c.inAxis], c.outAxis is null ? null : refs[c.outAxis])).ToList();
            var names = _model.named_parameters().Select(p => p.name).ToList();
            return new ChannelDependencyGraph(groups, _convWeights, groupOfParameter, names, compute);
        }
    }
}
