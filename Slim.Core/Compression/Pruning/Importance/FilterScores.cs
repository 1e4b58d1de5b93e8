using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Compression.Pruning.Importance;

/// <summary>Shared plumbing of the criteria: sum per-index layer scores into group channel scores.</summary>
internal static class FilterScores
{
    /// <summary>
    /// For every member of the given role, computes one score per index of its pruned axis and
    /// adds it to the group channel that index carries. Throws when no member has the role.
    /// </summary>
    public static double[] Sum(torch.nn.Module model, ChannelGroup group, MemberRole role, string criterion,
        Func<torch.nn.Module, GroupMember, double[]> perIndex)
    {
        var scores = new double[group.Channels];
        int used = 0;
        foreach (var m in group.Members.Where(m => m.Role == role))
        {
            using var scope = torch.NewDisposeScope();
            var s = perIndex(model.get_submodule(m.ModulePath), m);
            if (s.Length != m.ChannelOfPosition.Length)
                throw new PruningException($"{criterion}: '{m.ModulePath}' has {s.Length} channels but the channel graph expects " +
                    $"{m.ChannelOfPosition.Length}; was the graph built from another model?");
            for (int p = 0; p < s.Length; p++)
                if (m.ChannelOfPosition[p] >= 0) scores[m.ChannelOfPosition[p]] += s[p];
            used++;
        }
        if (used == 0)
            throw new PruningException($"criterion {criterion} needs a {role} layer in the group of " +
                $"{string.Join(", ", group.SourceParameters.DefaultIfEmpty(group.Members[0].ModulePath))}, and it has none");
        return scores;
    }

    public static Conv2d Conv(torch.nn.Module m, string path) =>
        m as Conv2d ?? throw new PruningException($"'{path}' is a {m.TypeName}, expected Conv2d");

    /// <summary>The filters of a conv as rows of a float64 matrix [out_channels, in*k*k].</summary>
    public static Tensor Filters(Conv2d conv)
    {
        using var _ = torch.no_grad();
        var w = conv.weight.detach().to(ScalarType.Float64);
        return w.reshape(w.shape[0], -1);
    }

    public static double[] ToDoubles(Tensor t) => t.to(ScalarType.Float64).data<double>();
}
