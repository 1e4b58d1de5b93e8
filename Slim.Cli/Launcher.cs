using System.CommandLine;
using System.Diagnostics;
using Slim.Recipes;
using Slim.Torch;
using Slim.Training;

namespace Slim.Cli;

/// <summary>
/// torchrun's launcher for the verbs that train: <c>--nproc-per-node N [--nnodes M --node-rank R --master-addr A
/// --master-port P]</c> starts N workers of the same command on this host, each told its place by the variables torchrun
/// sets (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), and watches them: when one fails, the
/// others are stopped and the run fails with a line naming the rank. A worker (started here or by any launcher that
/// sets those variables) joins the group with <see cref="Worker"/>.
/// </summary>
public sealed class Launcher
{
    private readonly Option<int> _nproc = new("--nproc-per-node")
    {
        Description = "Start this many worker processes on this host for data-parallel training (torchrun's option; each takes batch_size / world size images of every batch).",
        DefaultValueFactory = _ => 1,
    };
    private readonly Option<int> _nnodes = new("--nnodes") { Description = "Hosts taking part (each runs the same command with its --node-rank).", DefaultValueFactory = _ => 1 };
    private readonly Option<int> _nodeRank = new("--node-rank") { Description = "This host's index, 0 … nnodes − 1 (host 0 runs rank 0, which writes the outputs).", DefaultValueFactory = _ => 0 };
    private readonly Option<string> _masterAddr = new("--master-addr") { Description = "Address of host 0, where the workers meet (loopback on one host).", DefaultValueFactory = _ => "127.0.0.1" };
    private readonly Option<int> _masterPort = new("--master-port") { Description = "Free TCP port on host 0 for the rendezvous.", DefaultValueFactory = _ => 29500 };

    private static readonly string[] Names = ["--nproc-per-node", "--nnodes", "--node-rank", "--master-addr", "--master-port"];

    /// <summary>Whether the command line asks for more than one process.</summary>
    public bool Requested(ParseResult p) => p.GetValue(_nproc) * p.GetValue(_nnodes) > 1;

    /// <summary>Adds the launcher's options to a verb.</summary>
    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { _nproc, _nnodes, _nodeRank, _masterAddr, _masterPort }) command.Options.Add(o);
    }

    /// <summary>
    /// When the command line asks for more than one process (and this process is not already a worker), starts the
    /// workers, waits for them and returns the run's exit code; otherwise null (run the verb here). The recipe's batch
    /// must split evenly over the processes (checked before any worker starts).
    /// </summary>
    public ExitCode? LaunchIfAsked(ParseResult p, Recipe recipe, CancellationToken cancel)
    {
        int nproc = p.GetValue(_nproc), nnodes = p.GetValue(_nnodes), nodeRank = p.GetValue(_nodeRank), port = p.GetValue(_masterPort);
        string addr = p.GetValue(_masterAddr)!;
        if (nproc < 1) throw new UsageException($"--nproc-per-node {nproc}: expected 1 or more processes");
        if (nnodes < 1) throw new UsageException($"--nnodes {nnodes}: expected 1 or more hosts");
        if (nodeRank < 0 || nodeRank >= nnodes) throw new UsageException($"--node-rank {nodeRank}: expected 0 … {nnodes - 1} (--nnodes {nnodes})");
        if (port is < 1 or > 65535) throw new UsageException($"--master-port {port}: expected a port 1 … 65535");
        if (nproc * nnodes == 1) return null;
        if (Slim.Data.DataShard.CheckBatchSize(recipe.Train.BatchSize, nproc * nnodes) is { } split) throw new SlimException(split);
        if (WorldEnvironment.Read() is not null)
            throw new UsageException("--nproc-per-node: this process is already a worker of a launched run (WORLD_SIZE is set); start slim without the launcher options under torchrun or another launcher");
        var args = WorkerArguments(p);
        return Launch(args, nproc, nnodes, nodeRank, addr, port, cancel);
    }

    // The command line without the launcher's options: what every worker runs.
    private static List<string> WorkerArguments(ParseResult p)
    {
        var tokens = p.Tokens.ToList();
        var args = new List<string>();
        for (int i = 0; i < tokens.Count; i++)
        {
            if (tokens[i].Type == System.CommandLine.Parsing.TokenType.Option && Names.Contains(tokens[i].Value))
            {
                if (i + 1 < tokens.Count && tokens[i + 1].Type == System.CommandLine.Parsing.TokenType.Argument) i++;
                continue;
            }
            args.Add(tokens[i].Value);
        }
        return args;
    }

    private static ExitCode Launch(List<string> args, int nproc, int nnodes, int nodeRank, string addr, int port, CancellationToken cancel)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell which program to start the workers with");
        // Under `dotnet slim.dll` the workers are `dotnet slim.dll …`; the apphost starts itself.
        bool viaDotnet = Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        var slimDll = typeof(Launcher).Assembly.Location;
        int world = nproc * nnodes;
        var workers = new List<(int Rank, Process Process)>();
        try
        {
            for (int local = 0; local < nproc; local++)
            {
                int rank = nodeRank * nproc + local;
                var start = new ProcessStartInfo(host) { UseShellExecute = false };
                if (viaDotnet) start.ArgumentList.Add(slimDll);
                foreach (var a in args) start.ArgumentList.Add(a);
                start.Environment["RANK"] = rank.ToString(System.Globalization.CultureInfo.InvariantCulture);
                start.Environment["WORLD_SIZE"] = world.ToString(System.Globalization.CultureInfo.InvariantCulture);
                start.Environment["LOCAL_RANK"] = local.ToString(System.Globalization.CultureInfo.InvariantCulture);
                start.Environment["LOCAL_WORLD_SIZE"] = nproc.ToString(System.Globalization.CultureInfo.InvariantCulture);
                start.Environment["MASTER_ADDR"] = addr;
                start.Environment["MASTER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
                workers.Add((rank, Process.Start(start) ?? throw new InvalidOperationException($"could not start worker rank {rank}")));
            }
            // Watch: the first worker to fail stops the others; Ctrl+C reaches every worker from the terminal, and each
            // saves its checkpoint and exits by itself.
            while (true)
            {
                // The first to fail is the cause; the others fail after it, having lost contact.
                if (workers.Where(w => w.Process.HasExited && w.Process.ExitCode != 0).OrderBy(w => w.Process.ExitTime).FirstOrDefault() is { Process: not null } failed)
                {
                    int stopped = 0;
                    foreach (var w in workers.Where(w => !w.Process.HasExited))
                    {
                        try { w.Process.Kill(entireProcessTree: true); stopped++; } catch (InvalidOperationException) { }
                    }
                    foreach (var w in workers) w.Process.WaitForExit();
                    int code = failed.Process.ExitCode;
                    if (code == (int)ExitCode.Cancelled && cancel.IsCancellationRequested) return ExitCode.Cancelled;
                    throw new WorkerFailedException($"rank {failed.Rank} of {world} exited with code {code}{Signal(code)}; " +
                        $"{(stopped > 0 ? $"stopped the other {stopped} worker(s) on this host" : "the other workers had stopped")}; " +
                        $"{(Signal(code).Length > 0 ? "" : "its error is the line above naming it; ")}run the same command with --resume to continue from the last checkpoint");
                }
                if (workers.All(w => w.Process.HasExited)) return ExitCode.Ok;
                Thread.Sleep(100);
            }
        }
        finally
        {
            foreach (var w in workers)
            {
                try { if (!w.Process.HasExited) w.Process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                w.Process.Dispose();
            }
        }
    }

    private static string Signal(int code) => code > 128 && code < 160 ? $" (killed by signal {code - 128})" : "";

    /// <summary>
    /// Runs a verb's work: launches the workers when asked (<see cref="LaunchIfAsked"/>), else runs
    /// <paramref name="body"/> here — alone, or as one worker of a launched run. Rank 0 gets <paramref name="outDir"/>
    /// and the console; another rank gets a scratch folder of its own (removed after) and prints nothing.
    /// </summary>
    public ExitCode Run(ParseResult p, Recipe recipe, string outDir, CancellationToken cancel, Func<Worker, ExitCode> body)
    {
        if (LaunchIfAsked(p, recipe, cancel) is { } launched) return launched;
        using var group = Join();
        if (group is null) return body(new Worker(null, new ConsoleProgress(), Spectre.Console.AnsiConsole.Console, outDir));
        Slim.Pipeline.Runtime.Configure(recipe, ProcessesOnHost);
        if (Slim.Data.DataShard.CheckBatchSize(recipe.Train.BatchSize, group.world_size) is { } split) throw new SlimException(split);
        var rank0Out = group.BroadcastString(Path.GetFullPath(outDir));
        if (group.rank == 0) return body(new Worker(group, new ConsoleProgress(), Spectre.Console.AnsiConsole.Console, outDir));
        var scratch = Slim.Pipeline.RecipeRunner.ScratchFolder(rank0Out, group.rank);
        try
        {
            var silent = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(TextWriter.Null) });
            return body(new Worker(group, NullProgress.Instance, silent, scratch));
        }
        finally
        {
            try { Directory.Delete(scratch, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// In a worker (the launcher's, or torchrun's: WORLD_SIZE &gt; 1 in the environment), joins the group; null when
    /// this process runs alone.
    /// </summary>
    public static ProcessGroup? Join()
    {
        var world = WorldEnvironment.Read();
        return world?.Join();
    }

    /// <summary>The processes sharing this host in a launched run (1 alone): each takes its share of the cores.</summary>
    public static int ProcessesOnHost => WorldEnvironment.Read()?.LocalWorldSize ?? 1;
}

/// <summary>Where one process of a verb's run stands: its group (null alone), where it reports, and its folder.</summary>
public sealed record Worker(ProcessGroup? Group, IProgressSink Progress, Spectre.Console.IAnsiConsole Console, string OutDir);

/// <summary>A worker of a multi-process run failed; the launcher stopped the others.</summary>
public sealed class WorkerFailedException(string message) : Exception(message);
