using Slim.Torch;

namespace Slim.Compression.Pruning.Importance;

/// <summary>
/// FPGM (He et al. 2019, "Filter Pruning via Geometric Median"): each filter scores the sum of
/// its Euclidean distances to all other filters of its layer. Filters with the smallest sums lie
/// nearest the geometric median, are the most replaceable by the others, and go first.
/// </summary>
public sealed class GeometryMedianImportance : IChannelImportance
{
    public string Name => "geometry_median";

    public double[] Score(torch.nn.Module model, ChannelGroup group) =>
        FilterScores.Sum(model, group, MemberRole.ConvOutput, Name, (m, member) =>
        {
            var f = FilterScores.Filters(FilterScores.Conv(m, member.ModulePath));
            // ||a-b||² = |a|² + |b|² - 2ab, in float64 so near-equal filters do not go negative by much.
            var sq = f.square().sum(1, keepdim: true);
            var d2 = (sq + sq.t() - f.matmul(f.t()) * 2.0).clamp_min(0);
            return FilterScores.ToDoubles(d2.sqrt().sum(1));
        });
}
