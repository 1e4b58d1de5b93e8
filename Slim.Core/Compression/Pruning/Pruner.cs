using Slim.Compression.Pruning.Importance;
using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Compression.Pruning;

/// <summary>
/// Decides which channels go (<see cref="Plan"/>, read-only) and removes them physically
/// (<see cref="Apply"/>): smaller Conv2d, BatchNorm2d and Linear tensors through set_parameter
/// and set_buffer, with the layers' channel counts updated.
/// </summary>
public sealed class Pruner(ChannelDependencyGraph graph, IChannelImportance importance, int align = 1)
{
    public ChannelDependencyGraph Graph { get; } = graph;
    public IChannelImportance Importance { get; } = importance;

    /// <summary>Kept channel counts are rounded to a multiple of this (<see cref="PruningRatios.ChannelsToKeep"/>); 1 = off.</summary>
    public int Align { get; } = align >= 1 ? align : throw new PruningException($"align {align}: expected 1 (off) or a channel multiple such as 8 or 16");

    /// <summary>
    /// Scores each named group on model's current weights and keeps the highest-scoring channels
    /// (ties keep the lower index). The model is not changed.
    /// </summary>
    public PruningPlan Plan(torch.nn.Module model, IReadOnlyList<PruneTarget> targets)
    {
        PruningRatios.Validate(targets, Graph);
        var plans = new List<GroupPlan>();
        foreach (var byGroup in targets.GroupBy(t => Graph.GroupOf(t.Parameter).Id))
        {
            var group = Graph.Groups[byGroup.Key];
            double ratio = byGroup.First().Ratio;
            int byRatio = group.Channels - PruningRatios.ChannelsToRemove(group.Channels, ratio);
            int remove = group.Channels - PruningRatios.ChannelsToKeep(group.Channels, ratio, Align);
            int[] removed = Array.Empty<int>();
            if (remove > 0)
            {
                var scores = Importance.Score(model, group);
                removed = Enumerable.Range(0, group.Channels).OrderBy(c => scores[c]).ThenByDescending(c => c)
                    .Take(remove).OrderBy(c => c).ToArray();
            }
            var kept = Enumerable.Range(0, group.Channels).Except(removed).ToArray();
            plans.Add(new GroupPlan(group, byGroup.Select(t => t.Parameter).ToList(), ratio, kept, removed) { KeptByRatio = byRatio });
        }
        var fractions = PruningFlops.Fractions(Graph, plans.ToDictionary(p => p.Group.Id, p => p.RemovedChannels.Length));
        return new PruningPlan(Importance.Name, plans, PruningFlops.Macs(Graph), PruningFlops.Macs(Graph, fractions));
    }

    /// <summary>
    /// Removes the planned channels from model (which must have the architecture the graph was
    /// built from: the same model or a copy). Parameters are replaced, so optimizers made before
    /// this must be made again.
    /// </summary>
    public static PruningReport Apply(torch.nn.Module model, PruningPlan plan)
    {
        var kept = plan.KeptPositions();
        // Check every layer first so a mismatched model is left untouched.
        foreach (var ((path, role), (length, _)) in kept) Check(model, path, role, length);
        using (var scope = torch.NewDisposeScope())
        using (torch.no_grad())
        {
            foreach (var ((path, role), (_, keep)) in kept)
            {
                var index = torch.tensor(keep);
                var m = model.get_submodule(path);
                switch (role)
                {
                    case MemberRole.ConvOutput:
                    {
                        var conv = (Conv2d)m;
                        Replace(model, path, conv.WeightName, conv.weight, 0, index);
                        if (conv.bias is { } b) Replace(model, path, conv.BiasName, b, 0, index);
                        conv.out_channels = keep.Length;
                        break;
                    }
                    case MemberRole.ConvInput:
                    {
                        var conv = (Conv2d)m;
                        Replace(model, path, conv.WeightName, conv.weight, 1, index);
                        conv.in_channels = keep.Length;
                        break;
                    }
                    case MemberRole.DepthwiseConv:
                    {
                        var conv = (Conv2d)m;
                        Replace(model, path, conv.WeightName, conv.weight, 0, index);
                        if (conv.bias is { } b) Replace(model, path, conv.BiasName, b, 0, index);
                        // A channel multiplier (outputs per input channel) survives pruning: inputs and groups shrink with the outputs.
                        long multiplier = conv.out_channels / conv.groups;
                        conv.out_channels = keep.Length;
                        conv.in_channels = conv.groups = keep.Length / multiplier;
                        break;
                    }
                    case MemberRole.BatchNorm:
                    {
                        var bn = (BatchNorm2d)m;
                        Replace(model, path, bn.WeightName, bn.weight, 0, index);
                        Replace(model, path, bn.BiasName, bn.bias, 0, index);
                        Replace(model, path, bn.MeanName, bn.running_mean, 0, index, buffer: true);
                        Replace(model, path, bn.VarName, bn.running_var, 0, index, buffer: true);
                        bn.num_features = keep.Length;
                        break;
                    }
                    case MemberRole.LinearInput:
                    {
                        var lin = (Linear)m;
                        Replace(model, path, lin.WeightName, lin.weight, 1, index);
                        lin.in_features = keep.Length;
                        break;
                    }
                }
            }
        }
        return new PruningReport(plan.Layers, ChannelCounts.FromModel(model), plan.MacsBefore, plan.MacsAfter);
    }

    private static void Replace(torch.nn.Module model, string path, string leaf, Tensor old, long dim, Tensor index, bool buffer = false)
    {
        var full = path.Length == 0 ? leaf : path + "." + leaf;
        var smaller = old.detach().index_select(dim, index).contiguous().DetachFromDisposeScope();
        if (buffer) model.set_buffer(full, smaller);
        else model.set_parameter(full, smaller);
    }

    private static void Check(torch.nn.Module model, string path, MemberRole role, int length)
    {
        torch.nn.Module m;
        try { m = model.get_submodule(path); }
        catch (KeyNotFoundException) { throw new PruningException($"the plan prunes '{path}', which the model does not have"); }
        long actual = (role, m) switch
        {
            (MemberRole.ConvOutput or MemberRole.DepthwiseConv, Conv2d c) => c.weight.shape[0],
            (MemberRole.ConvInput, Conv2d c) => c.weight.shape[1],
            (MemberRole.BatchNorm, BatchNorm2d b) => b.weight.shape[0],
            (MemberRole.LinearInput, Linear l) => l.weight.shape[1],
            _ => throw new PruningException($"the plan prunes '{path}' as {role}, but it is a {m.TypeName}"),
        };
        if (actual != length)
            throw new PruningException($"the plan expects '{path}' to have {length} channels ({role}) but it has {actual}: " +
                "the plan was made for another architecture or the model was pruned already");
    }
}
