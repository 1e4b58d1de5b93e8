using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Compression.Pruning.Importance;

/// <summary>|gamma| of the group's batch norms (network slimming, Liu et al. 2017).</summary>
public sealed class BnScaleImportance : IChannelImportance
{
    public string Name => "bn_scale";

    public double[] Score(torch.nn.Module model, ChannelGroup group) =>
        FilterScores.Sum(model, group, MemberRole.BatchNorm, Name, (m, member) =>
        {
            var bn = m as BatchNorm2d ?? throw new PruningException($"'{member.ModulePath}' is a {m.TypeName}, expected BatchNorm2d");
            using var _ = torch.no_grad();
            return FilterScores.ToDoubles(bn.weight.detach().abs());
        });
}
