using Slim.Pipeline;

namespace Slim.Core.Tests.Pipeline;

public class TableTextTests
{
    [Fact]
    public void ATitleWiderThanItsTableStaysOnOneLine()
    {
        const string title = "quant: post hist, 10 batches, 41/50 layers int8, not_quant yolo_block.2";
        var table = new ScoreTable(title, ["", "value"], [["layers int8", "41"]], [1]);
        var lines = table.ToText().Split('\n');
        Assert.Equal(title, lines[0].Trim());
        Assert.Single(lines.Select(l => l.Length).Skip(1).Distinct()); // the table below it is one width
        Assert.True(lines[1].Length >= title.Length);
    }

    [Fact]
    public void AWideTableIsNotWrappedInText()
    {
        // 12 columns of long names: far beyond 160 columns, still one line a row.
        var columns = Enumerable.Range(0, 12).Select(i => $"a rather long column {i}").ToList();
        var table = new ScoreTable("wide", columns, [columns.Select(c => c.ToUpperInvariant()).ToList()], []);
        var lines = table.ToText().Split('\n');
        Assert.Equal(6, lines.Length); // title, top, header, rule, row, bottom
        Assert.Contains("A RATHER LONG COLUMN 11", lines[4]);
    }
}
