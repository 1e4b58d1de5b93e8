using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Torch;

/// <summary>
/// End to end: a small conv net learns which quadrant holds a bright blob, memory stays flat
/// over the loop, and a checkpoint of model and optimizer restores it bit for bit.
/// </summary>
public class TrainingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"slim-train-{Guid.NewGuid():N}");

    public TrainingTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Sequential MakeNet() => nn.Sequential(
        nn.Conv2d(1, 8, 3, padding: 1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding: 1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 4));

    /// <summary>16×16 images of noise with a bright 3×3 blob; the label is its quadrant (0..3).</summary>
    private static (Tensor images, Tensor labels) Batch(Generator g, int n)
    {
        var images = rand(new long[] { n, 1, 16, 16 }, g).mul_(0.3);
        var quadrant = randint(0, 4, new long[] { n }, g);
        var offsets = randint(0, 6, new long[] { n, 2 }, g);
        var q = quadrant.data<long>();
        var o = offsets.data<long>();
        using var _ = no_grad();
        for (int i = 0; i < n; i++)
        {
            long row = (q[i] / 2) * 8 + 1 + o[2 * i] % 5;
            long col = (q[i] % 2) * 8 + 1 + o[2 * i + 1] % 5;
            using var patch = images[i].narrow(1, row, 3).narrow(2, col, 3);
            patch.add_(1.0);
        }
        return (images, quadrant);
    }

    private static Dictionary<string, Tensor> Everything(Sequential net, optim.Optimizer opt)
    {
        var all = new Dictionary<string, Tensor>();
        foreach (var (k, v) in net.state_dict()) all["model." + k] = v;
        foreach (var (k, v) in opt.state_dict()) all["optim." + k] = v;
        return all;
    }

    [Fact]
    public void ConvNetLearnsQuadrantsWithoutLeakingAndCheckpointRestoresBitForBit()
    {
        manual_seed(42);
        using var g = new Generator(7);
        using var net = MakeNet();
        using var opt = new optim.SGD(net.parameters(), 0.05, momentum: 0.9, weight_decay: 1e-4);

        double Step()
        {
            using var scope = NewDisposeScope();
            var (x, y) = Batch(g, 32);
            opt.zero_grad();
            var loss = F.cross_entropy(net.call(x), y);
            loss.backward();
            opt.step();
            return loss.item<double>();
        }

        // The first step creates the optimizer's momentum buffers, which live on by design.
        var losses = new List<double> { Step() };
        long live = Tensor.LiveCount;
        for (int i = 1; i < 200; i++) losses.Add(Step());
        Assert.Equal(live, Tensor.LiveCount);

        double initial = losses.Take(10).Average();
        double final = losses.TakeLast(10).Average();
        Assert.True(final < 0.5 * initial, $"loss fell only from {initial:F3} to {final:F3}");

        // Checkpoint model and optimizer, restore into fresh objects.
        var path = Path.Combine(_dir, "ckpt.slim");
        Checkpoint.Save(path, Everything(net, opt), new Dictionary<string, string> { ["step"] = opt.StepCount.ToString() });
        var (tensors, meta) = Checkpoint.Load(path);
        using var restored = MakeNet();
        using var restoredOpt = new optim.SGD(restored.parameters(), 0.05, momentum: 0.9, weight_decay: 1e-4);
        try
        {
            restored.load_state_dict(tensors.Where(kv => kv.Key.StartsWith("model.")).ToDictionary(kv => kv.Key[6..], kv => kv.Value));
            restoredOpt.load_state_dict(tensors.Where(kv => kv.Key.StartsWith("optim.")).ToDictionary(kv => kv.Key[6..], kv => kv.Value),
                long.Parse(meta["step"]));
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }

        using var s = NewDisposeScope();
        var (probe, labels) = Batch(g, 8);
        net.eval();
        restored.eval();
        using (no_grad())
            Assert.True(net.call(probe).equal(restored.call(probe)), "restored model's eval output differs");

        // One more training step on both must stay identical: the momentum buffers came back too.
        net.train();
        restored.train();
        foreach (var (m, o) in new (Sequential, optim.Optimizer)[] { (net, opt), (restored, restoredOpt) })
        {
            o.zero_grad();
            F.cross_entropy(m.call(probe), labels).backward();
            o.step();
        }
        foreach (var ((name, a), (_, b)) in net.state_dict().Zip(restored.state_dict()))
            Assert.True(a.equal(b), $"{name} differs after a step from the restored checkpoint");
    }

    [Fact]
    public void BadCheckpointFilesRaiseCheckpointException()
    {
        using var scope = NewDisposeScope();
        using var net = MakeNet();
        var good = Path.Combine(_dir, "good.slim");
        Checkpoint.Save(good, net.state_dict());

        var truncated = Path.Combine(_dir, "truncated.slim");
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(truncated));
        Assert.Contains("truncated.slim", e.Message);
        Assert.Contains("truncated", e.Message[(e.Message.IndexOf(':') + 1)..]);

        var foreign = Path.Combine(_dir, "foreign.bin");
        var random = new byte[4096];
        new Random(3).NextBytes(random);
        File.WriteAllBytes(foreign, random);
        e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(foreign));
        Assert.Contains("foreign.bin", e.Message);
        Assert.Contains("not a Slim checkpoint", e.Message);

        var missing = Path.Combine(_dir, "missing.slim");
        e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(missing));
        Assert.Contains("missing.slim", e.Message);
        Assert.Contains("not found", e.Message);

        // Cut just before the end mark: every tensor is present but the file is incomplete.
        var cut = Path.Combine(_dir, "cut.slim");
        File.WriteAllBytes(cut, bytes[..^4]);
        Assert.Throws<CheckpointException>(() => Checkpoint.Load(cut));
    }

    [Fact]
    public void ACheckpointChangedAfterItWasWrittenIsRefused()
    {
        using var net = MakeNet();
        var good = Path.Combine(_dir, "good.slim");
        Checkpoint.Save(good, net.state_dict(), new Dictionary<string, string> { ["model.architecture"] = "tiny" });
        var bytes = File.ReadAllBytes(good);

        // Three bytes changed in the middle of the largest weight: the structure still parses, the checksum does not match.
        var largest = net.state_dict().Values.MaxBy(t => t.numel())!.RawBytes();
        int at = bytes.AsSpan().IndexOf(largest);
        Assert.True(at > 0 && largest.Length > 64);
        var flipped = (byte[])bytes.Clone();
        for (int i = 0; i < 3; i++) flipped[at + largest.Length / 2 + 7 * i] ^= 0x5A;
        var damaged = Path.Combine(_dir, "damaged.slim");
        File.WriteAllBytes(damaged, flipped);
        long live = Tensor.LiveCount;
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(damaged));
        Assert.Equal(live, Tensor.LiveCount);
        Assert.StartsWith($"{damaged}: checksum mismatch", e.Message);
        // The metadata precede the weights: reading them reads no weight (and so cannot see the damage).
        Assert.Equal("tiny", Checkpoint.ReadMetadata(damaged)["model.architecture"]);
        Assert.Equal("tiny", Checkpoint.ReadMetadata(good)["model.architecture"]);

        // Bytes appended after the checksum.
        var longer = Path.Combine(_dir, "longer.slim");
        File.WriteAllBytes(longer, [.. bytes, 1, 2, 3]);
        Assert.Contains("3 unexpected byte(s)", Assert.Throws<CheckpointException>(() => Checkpoint.Load(longer)).Message);

        // A format-1 file (no checksum, as written before it existed) still loads.
        var v1 = bytes[..^32];
        BitConverter.GetBytes(1).CopyTo(v1, 8);
        var old = Path.Combine(_dir, "v1.slim");
        File.WriteAllBytes(old, v1);
        var (tensors, meta) = Checkpoint.Load(old);
        Assert.Equal("tiny", meta["model.architecture"]);
        foreach (var (name, t) in net.state_dict()) Assert.True(t.equal(tensors[name]), name);
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void FailedCheckpointLoadLeaksNoTensors()
    {
        using var net = MakeNet();
        var good = Path.Combine(_dir, "good.slim");
        Checkpoint.Save(good, net.state_dict());
        var bytes = File.ReadAllBytes(good);
        var truncated = Path.Combine(_dir, "t.slim");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length - 100)]);
        long before = Tensor.LiveCount;
        Assert.Throws<CheckpointException>(() => Checkpoint.Load(truncated));
        Assert.Equal(before, Tensor.LiveCount);
    }

    [Fact]
    public void LoadStateDictListsMissingUnexpectedAndMisShapedKeys()
    {
        using var scope = NewDisposeScope();
        using var net = MakeNet();
        var sd = net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        sd.Remove("1.running_var");
        sd["extra.weight"] = zeros(3);
        sd["9.bias"] = zeros(5);
        var e = Assert.Throws<StateDictException>(() => net.load_state_dict(sd));
        Assert.Equal(new[] { "1.running_var" }, e.Missing);
        Assert.Equal(new[] { "extra.weight" }, e.Unexpected);
        Assert.Single(e.MisShaped);
        Assert.Contains("9.bias", e.MisShaped[0]);
        Assert.Contains("1.running_var", e.Message);
        Assert.Contains("extra.weight", e.Message);
        Assert.Contains("9.bias (checkpoint [5], model [4])", e.Message);

        // Non-strict ignores missing and unexpected keys but never a mis-shaped one.
        sd["9.bias"] = full(new long[] { 4 }, 0.5);
        net.load_state_dict(sd, strict: false);
        Assert.Equal(new[] { 0.5f, 0.5f, 0.5f, 0.5f }, ((Linear)net[9]).bias!.data<float>());
    }
}
