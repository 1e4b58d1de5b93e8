using System.CommandLine;

namespace Slim.Cli.Commands;

/// <summary>Options shared by several verbs, so they read the same everywhere.</summary>
public static class CommonOptions
{
    public static Option<string[]> Overrides() => new("--override", "-o")
    {
        Description = "Override a recipe value: -o key.sub=value (repeatable), e.g. -o train.batch_size=4; list items by position, e.g. -o stages.0.prune.fine_tune.iterations=300.",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>An option that takes a fraction, written 0.125 or 12.5%.</summary>
    public static Option<double?> Fraction(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "FRACTION",
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (Units.ParseFraction(text) is { } v) return v;
            result.AddError($"{name} {text}: expected a fraction such as 0.02 or a percent such as 2%");
            return null;
        },
    };

    public static Option<string> Out(string defaultValue)
    {
        var option = new Option<string>("--out")
        {
            Description = "Output folder (or file).",
            DefaultValueFactory = _ => defaultValue,
        };
        // A path under a file can never be written: said at once, not after the work.
        option.Validators.Add(result =>
        {
            var path = result.GetValueOrDefault<string>();
            if (string.IsNullOrWhiteSpace(path)) return;
            for (var dir = Path.GetDirectoryName(Path.GetFullPath(path)); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
                if (File.Exists(dir))
                {
                    result.AddError($"--out {path}: {dir} is a file, so nothing can be written under it; give a folder");
                    return;
                }
        });
        return option;
    }
}
