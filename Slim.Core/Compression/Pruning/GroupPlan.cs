namespace Slim.Compression.Pruning;

/// <summary>What the pruner will do to one channel group: which of its channels stay.</summary>
public sealed record GroupPlan(ChannelGroup Group, IReadOnlyList<string> Parameters, double Ratio, int[] KeptChannels, int[] RemovedChannels)
{
    public int ChannelsBefore => Group.Channels;
    public int ChannelsAfter => KeptChannels.Length;

    /// <summary>The channels the ratio alone keeps; differs from <see cref="ChannelsAfter"/> when alignment rounded it.</summary>
    public int KeptByRatio { get; init; } = -1;

    /// <summary>Whether channel alignment changed the kept count.</summary>
    public bool Aligned => KeptByRatio >= 0 && KeptByRatio != ChannelsAfter;
}

/// <summary>One layer axis before and after pruning (out channels, in channels, features).</summary>
public sealed record LayerChange(string ModulePath, MemberRole Role, long Before, long After);
