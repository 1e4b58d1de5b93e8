using Spectre.Console;

namespace Slim.Training;

/// <summary>Where long work reports its progress: a Spectre.Console bar, plain log lines, or nothing.</summary>
public interface IProgressSink
{
    /// <summary>Starts a task of total steps; the returned reporter is disposed when the task ends.</summary>
    IProgressTask Start(string description, long total);

    /// <summary>A line of information (results, skips, warnings).</summary>
    void Info(string message);
}

/// <summary>One running task of an <see cref="IProgressSink"/>.</summary>
public interface IProgressTask : IDisposable
{
    /// <summary>Sets the completed step count and the status text (loss, speed …).</summary>
    void Report(long done, string status);
}

/// <summary>Reports nothing (tests, library use).</summary>
public sealed class NullProgress : IProgressSink
{
    public static readonly NullProgress Instance = new();
    public IProgressTask Start(string description, long total) => new Task();
    public void Info(string message) { }
    private sealed class Task : IProgressTask
    {
        public void Report(long done, string status) { }
        public void Dispose() { }
    }
}

/// <summary>
/// Console progress: a live Spectre.Console bar on an interactive terminal, otherwise a log
/// line every few seconds (CI logs stay readable).
/// </summary>
public sealed class ConsoleProgress : IProgressSink
{
    private readonly TextWriter _log;
    private readonly bool _interactive;

    public ConsoleProgress(TextWriter? log = null, bool? interactive = null)
    {
        _log = log ?? Console.Error;
        _interactive = interactive ?? (!Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive);
    }

    public void Info(string message) => _log.WriteLine(message);

    public IProgressTask Start(string description, long total) =>
        _interactive ? new LiveTask(description, total) : new LogTask(_log, description, total);

    private sealed class LogTask(TextWriter log, string description, long total) : IProgressTask
    {
        private DateTime _last = DateTime.MinValue;
        private long _done;
        private string _status = "";

        public void Report(long done, string status)
        {
            _done = done;
            _status = status;
            if ((DateTime.UtcNow - _last).TotalSeconds < 5 && done < total) return;
            _last = DateTime.UtcNow;
            log.WriteLine($"{description}: {done}/{total} {status}");
        }

        public void Dispose()
        {
            if (_last == DateTime.MinValue || _done < total) log.WriteLine($"{description}: {_done}/{total} {_status}");
        }
    }

    private sealed class LiveTask : IProgressTask
    {
        private readonly Thread _thread;
        private readonly ManualResetEventSlim _stop = new();
        private long _done;
        private string _status = "";

        public LiveTask(string description, long total)
        {
            _thread = new Thread(() =>
            {
                AnsiConsole.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                        new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask(Markup.Escape(description), maxValue: Math.Max(1, total));
                        while (!_stop.Wait(200))
                        {
                            task.Value = Interlocked.Read(ref _done);
                            task.Description = Markup.Escape($"{description} {Volatile.Read(ref _status)}");
                        }
                        task.Value = Interlocked.Read(ref _done);
                        task.Description = Markup.Escape($"{description} {Volatile.Read(ref _status)}");
                    });
            }) { IsBackground = true };
            _thread.Start();
        }

        public void Report(long done, string status)
        {
            Interlocked.Exchange(ref _done, done);
            Volatile.Write(ref _status, status);
        }

        public void Dispose()
        {
            _stop.Set();
            _thread.Join();
        }
    }
}
