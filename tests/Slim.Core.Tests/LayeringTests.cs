namespace Slim.Core.Tests;

/// <summary>
/// The layering of DESIGN.md, checked on the sources: an algorithm folder takes typed options and
/// modules and knows nothing of recipes or the pipeline (mapping a YAML section onto the options
/// happens in Pipeline). Add a folder to <see cref="AlgorithmFolders"/> once it is clean.
/// </summary>
public class LayeringTests
{
    /// <summary>Folders (relative to the repository root) whose sources must not reach up into Recipes or Pipeline.</summary>
    public static readonly TheoryData<string> AlgorithmFolders = new()
    {
        "Slim.Core/Compression/Quantization",
    };

    private static readonly string[] Forbidden = { "using Slim.Recipes", "using Slim.Pipeline", "Slim.Recipes.", "Slim.Pipeline." };

    [Theory]
    [MemberData(nameof(AlgorithmFolders))]
    public void AlgorithmFolderDoesNotReferenceRecipesOrPipeline(string folder)
    {
        var dir = Path.Combine(RepositoryRoot(), folder);
        var files = Directory.GetFiles(dir, "*.cs", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        var hits = (from f in files
                    from line in File.ReadLines(f).Select((text, i) => (text, number: i + 1))
                    from word in Forbidden
                    where line.text.Contains(word, StringComparison.Ordinal)
                    select $"{Path.GetRelativePath(RepositoryRoot(), f)}:{line.number}: {line.text.Trim()}").Distinct().ToList();
        Assert.True(hits.Count == 0, $"{folder} must not depend on Slim.Recipes or Slim.Pipeline (take typed options; map recipe sections in Pipeline):\n" + string.Join("\n", hits));
    }

    /// <summary>The folder holding Slim.sln, found by walking up from the test binaries.</summary>
    internal static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Slim.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no Slim.sln above {AppContext.BaseDirectory}");
    }
}
