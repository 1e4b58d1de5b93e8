using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Slim.Cli.Tests;

/// <summary>What slim prints when its output goes to a file or a pipe (a log, CI): tables at their natural width, never wrapped.</summary>
public class LogOutputTests(CliExportRun run) : IClassFixture<CliExportRun>
{
    /// <summary>Runs the built slim.dll in a child process with stdout and stderr redirected (as `slim … > log 2>&1` does).</summary>
    internal static (int Code, string Stdout, string Stderr) RunRedirected(params string[] args)
    {
        // tests/Slim.Cli.Tests/bin/<Config>/net10.0 → Slim.Cli/bin/<Config>/net10.0/slim.dll
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var config = testBin.Parent!.Name;
        var root = testBin.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        var dll = Path.Combine(root, "Slim.Cli", "bin", config, testBin.Name, "slim.dll");
        Assert.True(File.Exists(dll), $"{dll} is not built");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["COLUMNS"] = "80"; // a width left in the environment does not apply to a log
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }

    [Fact]
    public void ARedirectedEvalTableHasOneLinePerClassAndNoWrappedCell()
    {
        // Long class names make an 80-column table wrap; a log has no width, so none may.
        var (code, stdout, stderr) = RunRedirected("eval", run.RecipePath, "--checkpoint", run.Checkpoint);
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.DoesNotContain(lines, l => l.Contains('\u001b')); // no colour escapes in a log
        var table = lines.Where(l => l.Length > 0 && "┌├│└╭╰┏┃┗+|".Contains(l[0])).ToList();
        Assert.NotEmpty(table);
        // Every line of a table is equally wide (a wrapped cell adds a line, it does not change the width) ...
        var tables = new List<List<string>>();
        foreach (var l in table)
        {
            if (l[0] is '┌' or '╭' or '┏' || tables.Count == 0) tables.Add([]);
            tables[^1].Add(l);
        }
        Assert.Equal(2, tables.Count); // VOC per class, COCO bbox
        Assert.All(tables, t => Assert.Single(t.Select(l => l.Length).Distinct()));
        // The COCO statistics keep pycocotools' descriptions on one line each.
        Assert.Equal(12, tables[1].Count(l => l.Contains("maxDets=")));
        // ... and every class of the validation images has one row, with its AP in % on that row.
        var rows = tables[0].Where(l => Regex.IsMatch(l, @"^│\s*\d+\s*│")).ToList();
        Assert.NotEmpty(rows);
        foreach (var row in rows)
            Assert.Single(run.ClassNames, name => Regex.IsMatch(row, $@"^│\s*\d+\s*│\s*{Regex.Escape(name)}\s*│\s*\d+\.\d\d\s*│$"));
        Assert.Equal(rows.Count, rows.Select(r => r.Split('│')[2].Trim()).Distinct().Count());
        Assert.Single(tables[0], l => Regex.IsMatch(l, @"│\s*mAP\s*│\s*\d+\.\d\d\s*│$"));
        // A COCO line whose first cell is empty would be the continuation of a wrapped row.
        Assert.All(tables[1].Where(l => l.StartsWith('│')), l => Assert.NotEqual("", l.Split('│')[1].Trim()));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^VOC mAP@0\.5: \d+\.\d\d % \("));
    }
}
