using Slim.Torch;

namespace Slim.Compression.Pruning.Importance;

/// <summary>L1 norm of each output filter of the group's producing convolutions (Li et al. 2017).</summary>
public sealed class L1NormImportance : IChannelImportance
{
    public string Name => "l1_norm";

    public double[] Score(torch.nn.Module model, ChannelGroup group) =>
        FilterScores.Sum(model, group, MemberRole.ConvOutput, Name, (m, member) =>
        {
            var f = FilterScores.Filters(FilterScores.Conv(m, member.ModulePath));
            return FilterScores.ToDoubles(f.abs().sum(1));
        });
}
