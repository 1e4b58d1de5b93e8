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
        return BuildRoot().Parse(args).Invoke();
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
        yield return TrainCommand.Create();
        yield return EvalCommand.Create();
        yield return DatasetCommand.Create();
        yield return DistillCommand.Create();
        yield return QuantCommand.Create();
        yield return ExportCommand.Create();
        yield return VerifyCommand.Create();
        yield return InferCommand.Create();
        yield return PruneCommand.Create();
        yield return SensitivityCommand.Create();
        yield return RunCommand.Create();
    }
}
