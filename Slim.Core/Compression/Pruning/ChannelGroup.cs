namespace Slim.Compression.Pruning;

/// <summary>
/// One layer's share of a channel group. <see cref="ChannelOfPosition"/> has one entry per index
/// along the layer's pruned axis: the group channel it carries, or -1 when that index belongs to
/// another group (a consumer after a concat sees several groups side by side).
/// </summary>
public sealed record GroupMember(string ModulePath, MemberRole Role, string? ParameterName, int[] ChannelOfPosition)
{
    /// <summary>Number of indexes along the pruned axis that carry this group's channels.</summary>
    public int Positions => ChannelOfPosition.Count(c => c >= 0);
}

/// <summary>
/// Channels that must be removed together: a convolution's outputs, its batch norm, every
/// consumer's inputs, and everything coupled to them by residual adds, SE gates and depthwise
/// convolutions. Channel j of the group is one coupled set of indexes across all members.
/// </summary>
public sealed class ChannelGroup
{
    internal ChannelGroup(int id, int channels, IReadOnlyList<GroupMember> members, IReadOnlyList<string> unprunableReasons)
    {
        Id = id;
        Channels = channels;
        Members = members;
        UnprunableReasons = unprunableReasons;
    }

    public int Id { get; }
    /// <summary>Number of independently removable channels.</summary>
    public int Channels { get; }
    public IReadOnlyList<GroupMember> Members { get; }
    /// <summary>Why the group cannot be pruned (empty when it can).</summary>
    public IReadOnlyList<string> UnprunableReasons { get; }
    public bool IsPrunable => UnprunableReasons.Count == 0;

    /// <summary>Weights of the convolutions that produce the group's channels (the names --pruned_params uses).</summary>
    public IEnumerable<string> SourceParameters =>
        Members.Where(m => m.Role == MemberRole.ConvOutput && m.ParameterName is not null).Select(m => m.ParameterName!);

    public override string ToString() =>
        $"group {Id}: {Channels} channels, {Members.Count} members ({string.Join(", ", Members.Select(m => $"{m.ModulePath}:{m.Role}"))})" +
        (IsPrunable ? "" : $"; unprunable: {string.Join("; ", UnprunableReasons)}");
}
