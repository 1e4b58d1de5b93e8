using System.Globalization;
using Slim.Analysis;
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
