using System.Globalization;
using System.Text;

namespace Slim.Compression.Pruning;

/// <summary>
/// The channels a pruning run will remove, per group, computed without touching the model
/// (this is what --dry-run prints). <see cref="Pruner.Apply"/> carries it out.
/// </summary>
public sealed class PruningPlan
{
    internal PruningPlan(string criterion, IReadOnlyList<GroupPlan> groups, double macsBefore, double macsAfter)
    {
        Criterion = criterion;
        Groups = groups;
        MacsBefore = macsBefore;
        MacsAfter = macsAfter;
        Layers = ComputeLayers(groups);
    }

    public string Criterion { get; }
    public IReadOnlyList<GroupPlan> Groups { get; }
    /// <summary>Multiply-accumulates of conv and linear layers at batch 1 before pruning.</summary>
    public double MacsBefore { get; }
    /// <summary>Multiply-accumulates after pruning.</summary>
    public double MacsAfter { get; }
    /// <summary>Fraction of MACs removed.</summary>
    public double MacsReduction => MacsBefore > 0 ? 1 - MacsAfter / MacsBefore : 0;
    /// <summary>Every layer axis the plan changes, with its size before and after.</summary>
    public IReadOnlyList<LayerChange> Layers { get; }

    /// <summary>For each (module path, role) the plan touches: the indexes along its pruned axis that stay.</summary>
    internal Dictionary<(string path, MemberRole role), (int length, long[] kept)> KeptPositions()
    {
        var removed = Groups.ToDictionary(g => g.Group.Id, g => g.RemovedChannels.ToHashSet());
        var result = new Dictionary<(string, MemberRole), (int, long[])>();
        foreach (var byAxis in Groups.SelectMany(g => g.Group.Members.Select(m => (id: g.Group.Id, m))).GroupBy(x => (x.m.ModulePath, x.m.Role)))
        {
            var members = byAxis.ToList();
            int length = members[0].m.ChannelOfPosition.Length;
            var keep = new List<long>();
            for (int p = 0; p < length; p++)
            {
                bool drop = false;
                foreach (var (id, m) in members)
                {
                    int c = m.ChannelOfPosition[p];
                    if (c >= 0 && removed[id].Contains(c)) drop = true;
                }
                if (!drop) keep.Add(p);
            }
            result[byAxis.Key] = (length, keep.ToArray());
        }
        return result;
    }

    private IReadOnlyList<LayerChange> ComputeLayers(IReadOnlyList<GroupPlan> groups)
    {
        if (groups.Count == 0) return Array.Empty<LayerChange>();
        return KeptPositions().Select(kv => new LayerChange(kv.Key.path, kv.Key.role, kv.Value.length, kv.Value.kept.Length))
            .OrderBy(l => l.ModulePath, StringComparer.Ordinal).ThenBy(l => l.Role).ToList();
    }

    /// <summary>A readable summary: groups, channels before → after, and MACs.</summary>
    public override string ToString()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(ci, $"pruning plan ({Criterion}): {Groups.Count} groups, GFLOPs {MacsBefore / (1 << 30):0.####} -> {MacsAfter / (1 << 30):0.####} ")
          .Append(ci, $"({MacsReduction * 100:0.##}% fewer)").AppendLine();
        foreach (var g in Groups)
            sb.Append(ci, $"  {string.Join(", ", g.Parameters)} ratio {g.Ratio:0.###}: {g.ChannelsBefore} -> {g.ChannelsAfter} channels, ")
              .Append(ci, $"{g.Group.Members.Count} layers").AppendLine();
        foreach (var l in Layers) sb.Append(ci, $"    {l.ModulePath} [{l.Role}] {l.Before} -> {l.After}").AppendLine();
        return sb.ToString();
    }
}
