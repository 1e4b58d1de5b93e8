using System.CommandLine;
using Slim.Cli.Commands;

namespace Slim.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // Tables piped to a file or a log stay plain text (no colour escape codes) at their natural width, never
        // wrapped at the 80 columns Spectre assumes without a terminal (or at a COLUMNS some shell left behind):
        // a log has no width, and a row split over two lines no longer reads as one row.
        if (Console.IsOutputRedirected)
        {
            Spectre.Console.AnsiConsole.Profile.Capabilities.Ansi = false;
            Spectre.Console.AnsiConsole.Profile.Width = 4096;
        }
        return Run(args);
    }

    /// <summary>
    /// Parses and runs a command line. A line that does not parse (an unknown verb or option, a missing argument, a
    /// word where a number belongs) is one line on stderr, <c>slim: error: …</c> with where to look, and exit code 2
    /// (<see cref="ExitCode.Usage"/>), as every other usage error; tests call this too.
    /// </summary>
    public static int Run(string[] args, TextWriter? error = null)
    {
        var root = BuildRoot();
        var result = root.Parse(args);
        if (result.Errors.Count == 0) return result.Invoke();
        var verb = result.CommandResult.Command;
        var path = new List<string>();
        for (var c = result.CommandResult; c is not null && c.Command != root; c = c.Parent as System.CommandLine.Parsing.CommandResult) path.Insert(0, c.Command.Name);
        var help = path.Count == 0 ? "slim --help" : $"slim {string.Join(' ', path)} --help";
        // The most telling error first: an unmatched word says more than the missing command it leads to.
        var first = result.Errors.FirstOrDefault(e => !e.Message.StartsWith("Required command", StringComparison.Ordinal)) ?? result.Errors[0];
        (error ?? Console.Error).WriteLine($"slim: error: {Explain(first.Message)} (see {help})");
        return (int)ExitCode.Usage;
    }

    // System.CommandLine's messages, in one line and in the words of the rest of slim.
    private static string Explain(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var m = System.Text.RegularExpressions.Regex.Match(lines[0], @"^Cannot parse argument '(.*)' for (?:option|argument) '(.*)' as expected type '(?:System\.)?([\w.]+)'");
        if (m.Success)
        {
            var what = m.Groups[3].Value switch
            {
                "Int32" or "Int64" => "a whole number",
                "Double" or "Single" => "a number",
                "Boolean" => "true or false",
                var t => $"a {t}",
            };
            return $"{m.Groups[2].Value} {m.Groups[1].Value}: expected {what}";
        }
        // "'frob' was not matched. Did you mean one of the following?" then one suggestion per line.
        if (lines[0].Contains("was not matched", StringComparison.Ordinal) && lines.Length > 1)
            return $"{lines[0][..lines[0].IndexOf(" was not matched", StringComparison.Ordinal)]} is not a verb or option here; did you mean {string.Join(" or ", lines.Skip(1))}?";
        return lines[0].TrimEnd('.');
    }

    /// <summary>The root command with every verb; tests parse against it too.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("Slim: train, prune, distill, quantize, export and verify detectors and classifiers.");
        foreach (var verb in Verbs()) root.Subcommands.Add(verb);
        return root;
    }

    private static IEnumerable<Command> Verbs()
    {
        yield return InfoCommand.Create();
        yield return RecipeCommand.Create();
        yield return FlopsCommand.Create();
        yield return ImportCommand.Create();
        yield return TrainCommand.Create();
        yield return EvalCommand.Create();
        yield return DatasetCommand.Create();
        yield return DistillCommand.Create();
        yield return QuantCommand.Create();
        yield return QuantAnalysisCommand.Create();
        yield return LatencyTableCommand.Create();
        yield return ExportCommand.Create();
        yield return VerifyCommand.Create();
        yield return InferCommand.Create();
        yield return PruneCommand.Create();
        yield return SensitivityCommand.Create();
        yield return RunCommand.Create();
    }
}
