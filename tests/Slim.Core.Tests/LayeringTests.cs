using System.Text.RegularExpressions;

namespace Slim.Core.Tests;

/// <summary>
/// The layers of DESIGN.md, checked on the sources: algorithms (Compression/*) take typed options
/// and modules and know nothing of recipes, the pipeline, tasks or the CLI; model families sit
/// below the pipeline.
/// </summary>
public class LayeringTests
{
    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Slim.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no Slim.sln above {AppContext.BaseDirectory}");
    }

    private static IEnumerable<string> Violations(string folder, params string[] namespaces)
    {
        var dir = Path.Combine(RepositoryRoot(), "Slim.Core", folder);
        Assert.True(Directory.Exists(dir), dir);
        var files = Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            int n = 0;
            foreach (var line in File.ReadLines(file))
            {
                n++;
                if (line.TrimStart().StartsWith("//", StringComparison.Ordinal)) continue;
                foreach (var ns in namespaces)
                {
                    // Inside namespace Slim.*, "Recipes.X" resolves without the "Slim." prefix: catch that form too.
                    string last = ns["Slim.".Length..];
                    if (Regex.IsMatch(line, $@"^\s*using\s+(static\s+)?{Regex.Escape(ns)}(\.|;)") || line.Contains(ns + ".", StringComparison.Ordinal)
                        || Regex.IsMatch(line, $@"(?<![\w.]){Regex.Escape(last)}\.[A-Z]"))
                        yield return $"{Path.GetRelativePath(RepositoryRoot(), file)}:{n}: {line.Trim()}";
                }
            }
        }
    }

    [Fact]
    public void CompressionAlgorithmsDoNotDependOnRecipesPipelineTasksOrTheCli()
    {
        var found = Violations("Compression", "Slim.Recipes", "Slim.Pipeline", "Slim.Tasks", "Slim.Cli").ToList();
        Assert.True(found.Count == 0, "Compression reaches above its layer:\n" + string.Join("\n", found));
    }

    [Fact]
    public void TasksAndTrainingDoNotDependOnThePipelineOrTheCli()
    {
        var found = Violations("Tasks", "Slim.Pipeline", "Slim.Cli").Concat(Violations("Training", "Slim.Pipeline", "Slim.Cli")).ToList();
        Assert.True(found.Count == 0, "a lower layer reaches into the pipeline:\n" + string.Join("\n", found));
    }

    [Fact]
    public void WeightImportReadsFilesAndKnowsNothingOfRecipesTasksOrTheCli()
    {
        var found = Violations("Import", "Slim.Recipes", "Slim.Pipeline", "Slim.Tasks", "Slim.Cli").ToList();
        Assert.True(found.Count == 0, "Import reaches above its layer:\n" + string.Join("\n", found));
    }

    [Fact]
    public void TheScanFindsAViolationWhenThereIsOne()
    {
        // The test above must be able to fail: scan a file that does use the pipeline.
        var found = Violations("Pipeline", "Slim.Tasks").ToList();
        Assert.NotEmpty(found);
    }
}
