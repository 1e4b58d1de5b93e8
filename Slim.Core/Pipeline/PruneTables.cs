using System.Globalization;
using Slim.Analysis;
using Slim.Compression.Pruning;
using Spectre.Console;

namespace Slim.Pipeline;

/// <summary>Console tables of a pruning: each changed layer before and after, and the model totals.</summary>
public static class PruneTables
{
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    /// <summary>One row per conv/linear layer whose weight changed: out channels, weight shape (in channels included) and MMACs before → after.</summary>
    public static Table Layers(PruneResult result)
    {
        var after = result.After.Layers.GroupBy(l => l.ModulePath).ToDictionary(g => g.Key, g => g.First());
        var table = new Table().Border(TableBorder.Rounded)
            .Title(Markup.Escape($"pruned layers ({result.Plan.Criterion}, {result.Plan.Groups.Count} groups)"))
            .AddColumn("layer")
            .AddColumn(new TableColumn("out").RightAligned())
            .AddColumn("weight before → after")
            .AddColumn(new TableColumn("MMACs before → after").RightAligned());
        int rows = 0;
        foreach (var b in result.Before.Layers.GroupBy(l => l.ModulePath).Select(g => g.First()))
        {
            if (!after.TryGetValue(b.ModulePath, out var a) || a.WeightShape.SequenceEqual(b.WeightShape)) continue;
            table.AddRow(Markup.Escape(b.ModulePath), Arrow(b.WeightShape[0], a.WeightShape[0]),
                $"{string.Join("×", b.WeightShape)} → {string.Join("×", a.WeightShape)}",
                $"{(b.Macs / 1e6).ToString("F2", Ci)} → {(a.Macs / 1e6).ToString("F2", Ci)}");
            rows++;
        }
        if (rows == 0) table.AddRow("(no layer changed)", "", "", "");
        return table.FitTitle();
    }

    /// <summary>
    /// The groups whose kept channels alignment changed: channels before, what the ratio alone keeps, what is kept;
    /// null when alignment was off or changed nothing.
    /// </summary>
    public static Table? Alignment(PruneResult result)
    {
        var aligned = result.Plan.Groups.Where(g => g.Aligned).ToList();
        if (aligned.Count == 0) return null;
        var table = new Table().Border(TableBorder.Rounded)
            .Title(Markup.Escape($"channel alignment: {aligned.Count} of {result.Plan.Groups.Count} groups rounded"))
            .AddColumn("group (first parameter)")
            .AddColumn(new TableColumn("ratio").RightAligned())
            .AddColumn(new TableColumn("channels").RightAligned())
            .AddColumn(new TableColumn("ratio keeps").RightAligned())
            .AddColumn(new TableColumn("kept").RightAligned());
        foreach (var g in aligned)
            table.AddRow(Markup.Escape(g.Parameters[0]), g.Ratio.ToString("0.###", Ci), g.ChannelsBefore.ToString(Ci),
                g.KeptByRatio.ToString(Ci), g.ChannelsAfter.ToString(Ci));
        return table.FitTitle();
    }

    /// <summary>
    /// Every conv of the model with its output channels before → after and, for each one left alone, why: its group
    /// cannot be pruned (the graph's reasons: a model output, a reshape it cannot follow, …), pruned_params does not
    /// name it, or its ratio removes no channel at its width (rounding, or alignment keeping the whole group). A
    /// depthwise conv follows the conv that produces its channels, and says so.
    /// </summary>
    public static Table Explain(ChannelDependencyGraph graph, PruneResult result)
    {
        var planned = result.Plan.Groups.ToDictionary(g => g.Group.Id);
        var byConv = new Dictionary<string, (ChannelGroup Group, GroupMember Member)>(StringComparer.Ordinal);
        foreach (var g in graph.Groups)
            foreach (var m in g.Members.Where(m => m.Role is MemberRole.ConvOutput or MemberRole.DepthwiseConv))
                byConv.TryAdd(m.ModulePath, (g, m));
        var table = new Table().Border(TableBorder.Rounded)
            .Title(Markup.Escape($"why each conv was pruned or not ({result.Plan.Groups.Count(g => g.RemovedChannels.Length > 0)} groups pruned)"))
            .AddColumn("conv")
            .AddColumn(new TableColumn("out").RightAligned())
            .AddColumn("pruned, or why not");
        foreach (var layer in result.Before.Layers.GroupBy(l => l.ModulePath).Select(g => g.First()))
        {
            if (!byConv.TryGetValue(layer.ModulePath, out var gm)) continue;
            var (group, member) = gm;
            string why;
            long after = layer.WeightShape[0];
            if (planned.TryGetValue(group.Id, out var gp))
            {
                string lead = gp.Parameters[0];
                bool follows = member.Role == MemberRole.DepthwiseConv || member.ParameterName is not { } p || !gp.Parameters.Contains(p);
                if (gp.RemovedChannels.Length == 0)
                    why = gp.KeptByRatio == gp.ChannelsBefore
                        ? string.Create(Ci, $"kept whole: ratio {gp.Ratio:0.###} of {gp.ChannelsBefore} channels rounds to no channel")
                        : string.Create(Ci, $"kept whole: aligning {gp.KeptByRatio} kept channels reaches the group's {gp.ChannelsBefore}");
                else
                {
                    after = gp.ChannelsAfter * (layer.WeightShape[0] / Math.Max(1, gp.ChannelsBefore));
                    why = string.Create(Ci, $"pruned, ratio {gp.Ratio:0.###}") + (gp.Aligned ? $" (aligned from {gp.KeptByRatio})" : "")
                        + (follows ? $", with {lead}" : "") + (member.Role == MemberRole.DepthwiseConv ? " (depthwise: follows its producer)" : "");
                }
            }
            else if (!group.IsPrunable) why = "unprunable: " + string.Join("; ", group.UnprunableReasons);
            else if (member.Role == MemberRole.DepthwiseConv) why = "not pruned: a depthwise conv follows its producer, which is not pruned";
            else why = "not selected: pruned_params does not name it or a conv coupled to it";
            table.AddRow(Markup.Escape(layer.ModulePath), Arrow(layer.WeightShape[0], after), Markup.Escape(why));
        }
        return table.FitTitle();
    }

    private static string Arrow(long before, long after) => before == after
        ? before.ToString(Ci)
        : $"{before.ToString(Ci)} → {after.ToString(Ci)}";

    /// <summary>GFLOPs (PaddleSlim), parameters and size before and after, with the change in %.</summary>
    public static Table Totals(ModelStats before, ModelStats after, string title = "pruning")
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title))
            .AddColumn("")
            .AddColumn(new TableColumn("before").RightAligned())
            .AddColumn(new TableColumn("after").RightAligned())
            .AddColumn(new TableColumn("change").RightAligned());
        void Row(string name, double b, double a, string fmt) =>
            table.AddRow(name, Number(b, fmt), Number(a, fmt), b == 0 ? "" : ((a / b - 1) * 100).ToString("+0.0;-0.0;0.0", Ci) + "%");
        static string Number(double v, string fmt) => fmt == "G" ? Units.GflopsNumber(v) : v.ToString(fmt, Ci);
        Row("GFLOPs (Paddle)", before.PaddleGFlops, after.PaddleGFlops, "G");
        Row("params (M)", before.Parameters / 1e6, after.Parameters / 1e6, "F3");
        Row("size (MiB)", before.SizeMiB, after.SizeMiB, "F2");
        return table.FitTitle();
    }

    /// <summary>Renders a table to plain text (no colours), for progress lines and files.</summary>
    public static string Render(Table table, int width = 4096)
    {
        using var writer = new StringWriter(Ci);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = width;
        console.Write(table);
        return writer.ToString().TrimEnd();
    }
}
