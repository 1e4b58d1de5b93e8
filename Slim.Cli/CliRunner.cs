using Slim.Recipes;
using Slim.Torch;

namespace Slim.Cli;

/// <summary>
/// Runs a verb's plain method and turns every failure into one line on stderr and an exit
/// code from <see cref="ExitCode"/>; nothing a user types can crash the process with a trace.
/// </summary>
public static class CliRunner
{
    public static int Run(Func<ExitCode> action, TextWriter? error = null)
    {
        error ??= Console.Error;
        try
        {
            return (int)action();
        }
        catch (Exception e)
        {
            var (code, message) = Classify(e);
            error.WriteLine($"slim: error: {RankPrefix()}{message}");
            if (code == ExitCode.InternalError && Environment.GetEnvironmentVariable("SLIM_DEBUG") == "1")
                error.WriteLine(e.ToString());
            return (int)code;
        }
    }

    /// <summary>The exit code and one-line message for an exception.</summary>
    public static (ExitCode code, string message) Classify(Exception e)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } agg) return Classify(agg.InnerExceptions[0]);
        var msg = OneLine(e.Message);
        return e switch
        {
            OperationCanceledException => (ExitCode.Cancelled, "interrupted"),
            UsageException => (ExitCode.Usage, msg),
            VerificationFailedException => (ExitCode.VerificationFailed, msg),
            WorkerFailedException => (ExitCode.WorkerFailed, msg),
            TorchException => (ExitCode.NativeError, msg),
            RecipeException or CheckpointException or StateDictException or FileNotFoundException or
                DirectoryNotFoundException or InvalidDataException or ArgumentException or KeyNotFoundException or
                FormatException or InvalidOperationException or IOException or UnauthorizedAccessException or
                SlimException => (ExitCode.InvalidInput, msg),
            _ => (ExitCode.InternalError, $"{e.GetType().Name}: {msg} (set SLIM_DEBUG=1 for details)"),
        };
    }

    // A worker of a multi-process run says which rank it is, so the launcher's log tells the ranks apart.
    private static string RankPrefix()
    {
        try
        {
            return Slim.Training.WorldEnvironment.Read() is { } w ? $"rank {w.Rank}: " : "";
        }
        catch (SlimException)
        {
            return "";
        }
    }

    private static string OneLine(string s)
    {
        var t = s.Trim();
        int nl = t.IndexOf('\n');
        return (nl < 0 ? t : t[..nl]).TrimEnd();
    }
}

/// <summary>Bad command-line usage detected by a verb (an option combination, a missing value).</summary>
public sealed class UsageException(string message) : Exception(message);
