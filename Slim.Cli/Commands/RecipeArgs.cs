using System.CommandLine;
using Slim.Pipeline;
using Slim.Recipes;

namespace Slim.Cli.Commands;

/// <summary>The recipe argument and the options every recipe-driven verb shares.</summary>
public sealed class RecipeArgs
{
    public Argument<string> File { get; } = new("recipe") { Description = "The recipe YAML file." };
    public Option<string[]> Overrides { get; } = CommonOptions.Overrides();

    public void AddTo(Command cmd)
    {
        cmd.Arguments.Add(File);
        cmd.Options.Add(Overrides);
    }

    /// <summary>Loads and validates the recipe, then configures threads and device.</summary>
    public Recipe Load(ParseResult p)
    {
        var r = RecipeLoader.Load<Recipe>(p.GetValue(File)!, p.GetValue(Overrides) ?? Array.Empty<string>());
        Runtime.Configure(r);
        return r;
    }
}
