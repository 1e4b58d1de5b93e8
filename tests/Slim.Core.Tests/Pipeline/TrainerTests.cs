using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Pipeline;

public class TrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-trainer-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private sealed class Batch(Tensor x, Tensor y) : IDisposable
    {
        public Tensor X { get; } = x;
        public Tensor Y { get; } = y;
        public void Dispose()
        {
            X.Dispose();
            Y.Dispose();
        }
    }

    // Batch i depends only on i: the property exact resume relies on.
    private static IEnumerable<Batch> Batches(long from)
    {
        for (long i = from; ; i++)
        {
            Batch b;
            using (var scope = NewDisposeScope())
            {
                using var g = new Generator(1000 + i);
                var x = randn(new long[] { 8, 2, 6, 6 }, g);
                var y = x.mean(new long[] { 1, 2, 3 }).gt(0).@long();
                b = new Batch(x.DetachFromDisposeScope(), y.DetachFromDisposeScope());
            }
            yield return b;
        }
    }

    private static Slim.Torch.Modules.Sequential Net()
    {
        manual_seed(7);
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding: 1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2));
    }

    private static LossParts Loss(Slim.Torch.Modules.Sequential net, Batch b)
    {
        var logits = net.call(b.X);
        return new LossParts(F.cross_entropy(logits, b.Y), new Dictionary<string, Tensor>());
    }

    private static double HeldOutLoss(Slim.Torch.Modules.Sequential net)
    {
        net.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        double sum = 0;
        foreach (var b in Batches(100_000).Take(8))
            using (b) sum += Loss(net, b).Total.item<double>();
        net.train();
        return sum / 8;
    }

    private static TrainSettings Settings(int iterations) => new()
    {
        Iterations = iterations,
        Lr = 0.05,
        WarmupSteps = 4,
        Schedule = ScheduleKind.Piecewise,
        Boundaries = new[] { 0.5 },
        CheckpointInterval = 5,
    };

    [Fact]
    public void LossFallsAndNoTensorsLeak()
    {
        using var net = Net();
        long before = Tensor.LiveCount;
        double initial = HeldOutLoss(net);
        var r = new Trainer().Fit(net, Settings(200) with { Lr = 0.1 }, Batches, b => Loss(net, b));
        Assert.Equal(before, Tensor.LiveCount);
        Assert.Equal(200, r.Iterations);
        double final = HeldOutLoss(net);
        Assert.True(final < 0.6 * initial, $"held-out loss {initial} -> {final}");
    }

    [Fact]
    public void ResumeAfterCancelGivesTheSameWeightsAndCurve()
    {
        var settings = Settings(20) with { EvalInterval = 5 };
        using var straight = Net();
        new Trainer().Fit(straight, settings, Batches, b => Loss(straight, b), () => 1 / (1 + HeldOutLoss(straight)), checkpointDir: Path.Combine(_dir, "a"));

        using var interrupted = Net();
        using var cts = new CancellationTokenSource();
        int calls = 0;
        Assert.Throws<OperationCanceledException>(() => new Trainer().Fit(interrupted, settings, Batches, b =>
        {
            if (++calls == 12) cts.Cancel();
            return Loss(interrupted, b);
        }, () => 1 / (1 + HeldOutLoss(interrupted)), checkpointDir: Path.Combine(_dir, "b"), cancel: cts.Token));
        var partial = TrainHistory.Load(Path.Combine(_dir, "b", TrainHistory.FileName));
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), partial.Iteration);
        Assert.Equal(new long[] { 5, 10 }, partial.Evals.Select(e => e.Iteration));

        using var resumed = Net();
        var r = new Trainer().Fit(resumed, settings, Batches, b => Loss(resumed, b), () => 1 / (1 + HeldOutLoss(resumed)), checkpointDir: Path.Combine(_dir, "b"), resume: true);
        Assert.Equal(20, r.Iterations);
        foreach (var (name, t) in straight.state_dict())
            Assert.True(t.equal(resumed.state_dict()[name]), $"{name} differs after resume");
        // The curve of the resumed run is the uninterrupted run's, byte for byte: 20 steps, evaluations at 5, 10, 15 and the end.
        var history = File.ReadAllBytes(Path.Combine(_dir, "a", TrainHistory.FileName));
        Assert.Equal(history, File.ReadAllBytes(Path.Combine(_dir, "b", TrainHistory.FileName)));
        var h = TrainHistory.Load(Path.Combine(_dir, "a", TrainHistory.FileName));
        Assert.Equal(20, h.Loss.Count);
        Assert.Equal(new long[] { 5, 10, 15, 20 }, h.Evals.Select(e => e.Iteration));
        Assert.True(File.Exists(Path.Combine(_dir, "a", Trainer.BestName)));
    }

    [Fact]
    public void ResumingWithOtherSettingsIsRefusedUnlessAllowed()
    {
        using var net = Net();
        using var cts = new CancellationTokenSource();
        int calls = 0;
        var dir = Path.Combine(_dir, "changed");
        Assert.Throws<OperationCanceledException>(() => new Trainer().Fit(net, Settings(20), Batches, b =>
        {
            if (++calls == 8) cts.Cancel();
            return Loss(net, b);
        }, checkpointDir: dir, cancel: cts.Token));
        var changed = Settings(20) with { Lr = 0.07 };
        var e = Assert.Throws<SlimException>(() => new Trainer().Fit(net, changed, Batches, b => Loss(net, b), checkpointDir: dir, resume: true));
        Assert.Contains("was written with other training settings (lr: 0.05 → 0.07)", e.Message);
        Assert.Contains("--allow-changes", e.Message);
        // The same settings resume; allowed, other settings resume too and are said.
        var lines = new List<string>();
        var r = new Trainer(new Recorder(lines)).Fit(net, changed, Batches, b => Loss(net, b), checkpointDir: dir, resume: true, allowChanges: true);
        Assert.Equal(20, r.Iterations);
        Assert.Contains(lines, l => l.Contains("resuming with a changed setting: lr: 0.05 → 0.07"));
    }

    private sealed class Recorder(List<string> lines) : IProgressSink
    {
        public IProgressTask Start(string description, long total) => NullProgress.Instance.Start(description, total);
        public void Info(string message) => lines.Add(message);
    }

    [Fact]
    public void HistoryWrittenAheadOfItsCheckpointIsCutBackOnResume()
    {
        var path = Path.Combine(_dir, TrainHistory.FileName);
        var h = new TrainHistory();
        for (int i = 1; i <= 12; i++) h.AddStep(i, 10.0 / i, 0.1);
        h.AddEval(5, 0.2);
        h.AddEval(10, 0.3);
        h.AddEval(12, 0.4);
        h.Save(path);
        var cut = TrainHistory.Load(path, upTo: 10);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), cut.Iteration);
        Assert.Equal(10, cut.Loss.Count);
        Assert.Equal(10, cut.Lr.Count);
        Assert.Equal(new long[] { 5, 10 }, cut.Evals.Select(e => e.Iteration));
        File.WriteAllText(path, "{\"iteration\": [1, 2], \"loss\": [1.0], \"lr\": [0.1, 0.1]}");
        Assert.Contains("different lengths", Assert.Throws<SlimException>(() => TrainHistory.Load(path)).Message);
    }

    [Fact]
    public void DivergingLossIsAClearError()
    {
        using var net = Net();
        var e = Assert.Throws<SlimException>(() => new Trainer().Fit(net, Settings(5), Batches,
            b => new LossParts(Loss(net, b).Total * double.NaN, new Dictionary<string, Tensor>())));
        Assert.Contains("lower the learning rate", e.Message);
    }
}
