using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Slim.Compression.Pruning.Sensitivity;
using Slim.Pipeline;
using Slim.Torch;

namespace Slim.Cli.Tests;

/// <summary>
/// Multi-process runs started by slim's own launcher (--nproc-per-node 2): two worker processes over Gloo on loopback,
/// each a `dotnet slim.dll` of its own, as a user starts them.
/// </summary>
public class DistributedRunTests(RunFixture fx) : IClassFixture<RunFixture>
{
    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private string[] Args(string verb, string outDir, params string[] more)
    {
        var args = new List<string> { verb, fx.ShortRecipe(), "--out", outDir };
        foreach (var o in fx.Overrides) args.AddRange(new[] { "-o", o });
        args.AddRange(more);
        return args.ToArray();
    }

    private static string[] TwoProcesses(int port) => ["--nproc-per-node", "2", "--master-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)];

    private static Dictionary<string, float[]> ModelTensors(string checkpoint)
    {
        var (tensors, _) = Checkpoint.Load(checkpoint);
        try
        {
            return tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32).ToFloatArray());
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    // The largest difference, relative to max(1, |value|), over every model tensor.
    private static double Difference(Dictionary<string, float[]> a, Dictionary<string, float[]> b)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double worst = 0;
        foreach (var (k, va) in a)
            for (int i = 0; i < va.Length; i++)
            {
                double d = Math.Abs(va[i] - b[k][i]) / Math.Max(1, Math.Abs(va[i]));
                if (d > worst) { worst = d; Console.Error.WriteLine($"DEBUG {k}[{i}] {va[i]} vs {b[k][i]}"); }
            }
        return worst;
    }

    // The largest difference over every model tensor.
    private static double Difference(Dictionary<string, float[]> a, Dictionary<string, float[]> b, Func<string, bool>? which = null)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double worst = 0;
        foreach (var (k, va) in a.Where(kv => which?.Invoke(kv.Key) ?? true))
            for (int i = 0; i < va.Length; i++)
                worst = Math.Max(worst, Math.Abs(va[i] - b[k][i]));
        return worst;
    }

    [Fact]
    public void TwoProcessesWithSyncBnTakeTheStepOneProcessTakesOnTheWholeBatch()
    {
        // One step over 4 images: two ranks of 2 images each (sync_bn: batch norm over all 4) against one process.
        // A small learning rate keeps the step where it is linear in the gradient (a randomly initialized YOLOv3's
        // gradients are in the thousands: at the quick start's rate a few steps are chaotic, and even libtorch's
        // thread count changes the weights after two).
        string[] step = ["-o", "train.iterations=1", "-o", "train.lr=0.00001", "-o", "train.eval_interval=0"];
        var zero = Path.Combine(fx.Root, "dp-step-0");
        var one = Path.Combine(fx.Root, "dp-step-1");
        var two = Path.Combine(fx.Root, "dp-step-2");
        var plain = Path.Combine(fx.Root, "dp-step-2-plain");
        void Train(string dir, params string[] more)
        {
            var (code, err) = RunCommandTests.Run(Args("train", dir, [.. step, .. more]));
            Assert.True(code == 0, err);
        }
        Train(zero, "-o", "train.lr=0.0000000001");
        Train(one);
        Train(two, ["-o", "train.sync_bn=true", .. TwoProcesses(FreePort())]);
        Train(plain, TwoProcesses(FreePort()));
        var start = ModelTensors(Path.Combine(zero, "last.ckpt"));
        var a = ModelTensors(Path.Combine(one, "last.ckpt"));
        static bool Weights(string k) => k.EndsWith(".weights", StringComparison.Ordinal) || k.EndsWith(".weight", StringComparison.Ordinal);
        double stepSize = Difference(start, a, Weights);
        double synced = Difference(a, ModelTensors(Path.Combine(two, "last.ckpt")));
        double unsynced = Difference(a, ModelTensors(Path.Combine(plain, "last.ckpt")), Weights);
        Assert.True(stepSize > 1e-3, $"the step moved the weights by {stepSize:G3} only");
        // Measured: step 4.2e-3, synchronized 3.5e-5 (float32 statistics of 2 × 2 images), plain 6.5e-3.
        Assert.True(synced < 0.03 * stepSize, $"2 processes × 2 images (sync_bn) differ from 1 process × 4 images by {synced:G3}; the step is {stepSize:G3}");
        Assert.True(unsynced > 20 * synced, $"without sync_bn the weights differ by {unsynced:G3}, with it by {synced:G3}: the comparison would not catch a broken sync");
        // The second rank wrote nothing in --out, and rank 0 what one process writes.
        Assert.False(Directory.Exists(RecipeRunner.ScratchFolder(Path.GetFullPath(two), 1)));
        Assert.Equal(Directory.GetFiles(one).Select(Path.GetFileName).Order(), Directory.GetFiles(two).Select(Path.GetFileName).Order());
        Assert.Equal(1L, long.Parse(Checkpoint.ReadMetadata(Path.Combine(two, "last.ckpt"))["train.iteration"], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void TwoProcessRunOfTheShortRecipeWritesOneSetOfOutputs()
    {
        var outDir = Path.Combine(fx.Root, "dp-run");
        var (code, stderr) = RunCommandTests.Run(Args("run", outDir, TwoProcesses(FreePort())));
        Assert.True(code == 0, stderr);
        var r = RunCommandTests.Report(outDir);
        Assert.Equal(new[] { "baseline", "prune", "quant", "onnx fp32", "onnx int8" }, r.Stages.Select(s => s.Stage));
        Assert.True(File.Exists(Path.Combine(outDir, "export", "model_int8.onnx")));
        Assert.True(File.Exists(Path.Combine(outDir, "stages", "01_prune", PruneSensitivity.JsonName)));
        Assert.False(Directory.Exists(RecipeRunner.ScratchFolder(Path.GetFullPath(outDir), 1)), "rank 1's scratch folder is left behind");
    }

    [Fact]
    public void SensitivityOnTwoProcessesWritesTheFileOfOne()
    {
        // A checkpoint that detects something, so that the points differ from one another.
        var trained = Path.Combine(fx.Root, "sens-train");
        var (tc, te) = RunCommandTests.Run(Args("train", trained, "-o", "train.iterations=60", "-o", "train.eval_interval=0"));
        Assert.True(tc == 0, te);
        string[] sens = ["--checkpoint", Path.Combine(trained, "best.ckpt"), "--ratios", "0.3,0.7", "--params", "yolo_block.*.conv.weights"];
        var one = Path.Combine(fx.Root, "sens-1");
        var two = Path.Combine(fx.Root, "sens-2");
        var (c1, e1) = RunCommandTests.Run(Args("sensitivity", one, sens));
        Assert.True(c1 == 0, e1);
        var (c2, e2) = RunCommandTests.Run(Args("sensitivity", two, [.. sens, .. TwoProcesses(FreePort())]));
        Assert.True(c2 == 0, e2);
        var j1 = File.ReadAllText(Path.Combine(one, PruneSensitivity.JsonName));
        Assert.Equal(j1, File.ReadAllText(Path.Combine(two, PruneSensitivity.JsonName)));
        var result = SensitivityResult.Load(Path.Combine(one, PruneSensitivity.JsonName));
        Assert.True(result.Points.Count >= 10, $"{result.Points.Count} points");
        Assert.True(result.Points.Select(p => p.Metric).Distinct().Count() > 1, "every point scored the same: the comparison would prove little");
    }

    [Fact]
    public void KillingOneWorkerStopsTheRunNamingTheRankAndResumeFinishesIt()
    {
        var outDir = Path.Combine(fx.Root, "dp-kill");
        int port = FreePort();
        string[] longer = ["-o", "train.iterations=100", "-o", "train.eval_interval=0"];
        (int code, string err) result = default;
        var launcher = new Thread(() => result = RunCommandTests.Run(Args("run", outDir, [.. longer, .. TwoProcesses(port)])));
        launcher.Start();
        var last = Path.Combine(outDir, "stages", "00_train", "last.ckpt");
        var watch = Stopwatch.StartNew();
        while (!File.Exists(last) && watch.Elapsed < TimeSpan.FromMinutes(3) && launcher.IsAlive) Thread.Sleep(100);
        Assert.True(File.Exists(last), "no checkpoint was written");
        var victim = Workers(port).Single(w => w.Rank == 1);
        Process.GetProcessById(victim.Pid).Kill();
        launcher.Join();
        Assert.Equal((int)ExitCode.WorkerFailed, result.code);
        Assert.Contains("slim: error: rank 1 of 2 exited with code 137 (killed by signal 9)", result.err);
        Assert.Empty(Workers(port));
        Assert.False(File.Exists(Path.Combine(outDir, "report.json")));

        long killedAt = long.Parse(Checkpoint.ReadMetadata(last)["train.iteration"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(killedAt, 1, 99);

        var (code, stderr) = RunCommandTests.Run(Args("run", outDir, [.. longer, "--resume", .. TwoProcesses(FreePort())]));
        Assert.True(code == 0, stderr);
        Assert.Equal("baseline", RunCommandTests.Report(outDir).Stages[0].Stage);
        // Exact resume: the baseline is the one an uninterrupted 2-process run trains.
        var straight = Path.Combine(fx.Root, "dp-straight");
        var (c2, e2) = RunCommandTests.Run(Args("train", straight, [.. longer, .. TwoProcesses(FreePort())]));
        Assert.True(c2 == 0, e2);
        var resumed = ModelTensors(last);
        foreach (var (k, v) in ModelTensors(Path.Combine(straight, "last.ckpt"))) Assert.Equal(v, resumed[k]);
    }

    // The worker processes of the launch on this port: their pid and RANK, read from /proc.
    private static List<(int Pid, int Rank)> Workers(int port)
    {
        var found = new List<(int, int)>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid) || pid == Environment.ProcessId) continue;
            string[] env;
            try { env = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0'); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            if (!env.Contains($"MASTER_PORT={port}")) continue;
            if (env.FirstOrDefault(v => v.StartsWith("RANK=", StringComparison.Ordinal)) is { } rank) found.Add((pid, int.Parse(rank[5..], System.Globalization.CultureInfo.InvariantCulture)));
        }
        return found;
    }

    [Fact]
    public void LaunchProblemsAreOneLineBeforeAnyWorkerStarts()
    {
        var outDir = Path.Combine(fx.Root, "dp-bad");
        var (code, stderr) = RunCommandTests.Run(Args("run", outDir, "--nproc-per-node", "2", "--nnodes", "2", "--node-rank", "2"));
        Assert.Equal((int)ExitCode.Usage, code);
        Assert.Equal("slim: error: --node-rank 2: expected 0 … 1 (--nnodes 2)", stderr.Trim());
        (code, stderr) = RunCommandTests.Run(Args("run", outDir, ["-o", "train.batch_size=3", .. TwoProcesses(FreePort())]));
        Assert.Equal((int)ExitCode.InvalidInput, code);
        Assert.Equal("slim: error: train.batch_size 3 does not split evenly over 2 processes: use a multiple of 2 (each process takes batch_size / 2 images)", stderr.Trim());
        Assert.False(File.Exists(Path.Combine(outDir, "recipe.yml")), "a refused run wrote into --out");
    }

    [Fact]
    public void CalibrationOnTwoProcessesWritesTheScalesOfOne()
    {
        // abs_max and avg merge exactly: the quantization file of 2 processes is the one of 1.
        var trained = Path.Combine(fx.Root, "calib-train");
        var (tc, te) = RunCommandTests.Run(Args("train", trained, "-o", "train.iterations=10", "-o", "train.eval_interval=0"));
        Assert.True(tc == 0, te);
        string[] quant = ["--checkpoint", Path.Combine(trained, "best.ckpt"), "--mode", "post", "--algo", "avg", "--calibration-batches", "5"];
        var one = Path.Combine(fx.Root, "calib-1");
        var two = Path.Combine(fx.Root, "calib-2");
        var (c1, e1) = RunCommandTests.Run(Args("quant", one, quant));
        Assert.True(c1 == 0, e1);
        var (c2, e2) = RunCommandTests.Run(Args("quant", two, [.. quant, .. TwoProcesses(FreePort())]));
        Assert.True(c2 == 0, e2);
        Assert.Equal(File.ReadAllText(Path.Combine(one, "quant.json")), File.ReadAllText(Path.Combine(two, "quant.json")));
    }

    [Fact]
    public void WorkersStartedByAnotherLauncherJoinThroughTorchrunsVariables()
    {
        // What torchrun (or a cluster launcher) does: start the processes itself, each with RANK, WORLD_SIZE, LOCAL_RANK,
        // LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT; no --nproc-per-node anywhere.
        var outDir = Path.Combine(fx.Root, "dp-env");
        int port = FreePort();
        var slim = Path.Combine(AppContext.BaseDirectory, "slim.dll");
        var workers = Enumerable.Range(0, 2).Select(rank =>
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in Args("train", outDir, "-o", "train.iterations=4", "-o", "train.eval_interval=0").Prepend(slim)) psi.ArgumentList.Add(a);
            foreach (var (k, v) in new[] { ("RANK", rank), ("WORLD_SIZE", 2), ("LOCAL_RANK", rank), ("LOCAL_WORLD_SIZE", 2), ("MASTER_PORT", port) })
                psi.Environment[k] = v.ToString(System.Globalization.CultureInfo.InvariantCulture);
            psi.Environment["MASTER_ADDR"] = "127.0.0.1";
            return Process.Start(psi)!;
        }).ToList();
        var errors = workers.Select(w => w.StandardError.ReadToEndAsync()).ToList();
        foreach (var w in workers) w.StandardOutput.ReadToEndAsync();
        foreach (var w in workers) Assert.True(w.WaitForExit(TimeSpan.FromMinutes(3)), "a worker did not finish");
        Assert.All(workers.Select((w, r) => (w.ExitCode, Err: errors[r].Result, r)), x => Assert.True(x.ExitCode == 0, $"rank {x.r}: {x.Err}"));
        Assert.Equal(4L, long.Parse(Checkpoint.ReadMetadata(Path.Combine(outDir, "last.ckpt"))["train.iteration"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.False(Directory.Exists(RecipeRunner.ScratchFolder(Path.GetFullPath(outDir), 1)));
        foreach (var w in workers) w.Dispose();
    }
}
