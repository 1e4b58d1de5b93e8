using Slim.Torch;

namespace Slim.Compression.Pruning.Importance;

/// <summary>
/// Scores the channels of a group; the lowest scores are pruned first. A group's score sums
/// the criterion over the members it applies to, so coupled layers are judged jointly.
/// </summary>
public interface IChannelImportance
{
    /// <summary>The name a run selects the criterion by (<c>l1_norm</c>).</summary>
    string Name { get; }

    /// <summary>One score per group channel (length <see cref="ChannelGroup.Channels"/>).</summary>
    double[] Score(torch.nn.Module model, ChannelGroup group);
}
