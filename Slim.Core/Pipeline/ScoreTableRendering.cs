using Spectre.Console;
using Spectre.Console.Rendering;

namespace Slim.Pipeline;

/// <summary>Turns the plain <see cref="ScoreTable"/>s that tasks and evaluators produce into Spectre.Console tables and plain text.</summary>
public static class ScoreTableRendering
{
    /// <summary>A Spectre table with the same title, header, rows and number alignment.</summary>
    public static Table ToSpectre(this ScoreTable t)
    {
        var table = new Table().Title(Markup.Escape(t.Title));
        for (int c = 0; c < t.Columns.Count; c++)
        {
            var column = new TableColumn(Markup.Escape(t.Columns[c]));
            if (t.RightAligned.Contains(c)) column.RightAligned();
            table.AddColumn(column);
        }
        foreach (var row in t.Rows) table.AddRow(row.Select(Markup.Escape).ToArray());
        return table.FitTitle();
    }

    /// <summary>
    /// Widens a table whose title is wider than its columns, so that the title stays on one line (Spectre wraps a
    /// title at the table's width, which splits it in a log). Call it once the rows are in.
    /// </summary>
    public static Table FitTitle(this Table table)
    {
        if (table.Title is not { } title) return table;
        int titleWidth = Markup.Remove(title.Text).Length;
        var natural = ((IRenderable)table).Measure(RenderOptions.Create(AnsiConsole.Console), int.MaxValue / 2);
        if (titleWidth > natural.Max) table.Width = titleWidth;
        return table;
    }

    /// <summary>The table as plain text (no colours), for log lines and files.</summary>
    public static string ToText(this ScoreTable t, int width = 4096) => PruneTables.Render(t.ToSpectre(), width);
}
