using System.CommandLine;

namespace Slim.Cli.Commands;

/// <summary>Options shared by several verbs, so they read the same everywhere.</summary>
public static class CommonOptions
{
    public static Option<string[]> Overrides() => new("--override", "-o")
    {
        Description = "Override a recipe value: -o key.sub=value (repeatable), e.g. -o train.batch_size=4.",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
    };

    public static Option<string> Out(string defaultValue) => new("--out")
    {
        Description = "Output folder (or file).",
        DefaultValueFactory = _ => defaultValue,
    };
}
