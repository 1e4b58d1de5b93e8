using System.Globalization;
using Slim.Cli;
using Spectre.Console;

namespace Slim.Cli.Tests;

/// <summary>Helpers of the CLI tests: a console that records, and a verb run through the real parser with its output captured.</summary>
internal static class PruneCliSupport
{
    public static (IAnsiConsole console, StringWriter text) Recorder()
    {
        var w = new StringWriter(CultureInfo.InvariantCulture);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(w),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 220;
        return (console, w);
    }

    /// <summary>Parses and invokes args as `slim` would; returns the exit code and what went to stderr.</summary>
    public static (int code, string stderr) Invoke(params string[] args)
    {
        var err = new StringWriter(CultureInfo.InvariantCulture);
        var old = Console.Error;
        Console.SetError(err);
        try
        {
            int code = Program.Run(args);
            return (code, err.ToString());
        }
        finally
        {
            Console.SetError(old);
        }
    }

    /// <summary>Parses and invokes args as `slim` would, with the console recorded: exit code, stdout, stderr.</summary>
    public static (int Code, string Out, string Err) InvokeRecorded(params string[] args)
    {
        var (oldConsole, oldErr) = (AnsiConsole.Console, Console.Error);
        var (console, o) = Recorder();
        var e = new StringWriter(CultureInfo.InvariantCulture);
        AnsiConsole.Console = console;
        Console.SetError(e);
        try
        {
            return (Program.Run(args), o.ToString(), e.ToString());
        }
        finally
        {
            AnsiConsole.Console = oldConsole;
            Console.SetError(oldErr);
        }
    }
}
