using Slim.Compression.Quantization;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using static Slim.Torch.torch;
using Xunit.Abstractions;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Quantization;

public class AwareTrainingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-quant-").FullName;

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

    // 4 classes told apart by local shape (what convs and global pooling can see): a horizontal
    // bar, a vertical bar, a diagonal or a 2×2 square, drawn at a random place in an 8×8 noisy image.
    private static Batch MakeBatch(long index, int size = 16)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(500 + index);
        var y = randint(0, 4, new long[] { size }, g);
        var x = randn(new long[] { size, 1, 8, 8 }, g) * 0.3;
        var at = randint(0, 5, new long[] { size, 2 }, g).ToInt64Array();
        var labels = y.ToInt64Array();
        var data = x.ToFloatArray();
        (int, int)[][] shapes =
        {
            new[] { (0, 0), (0, 1), (0, 2), (0, 3) },
            new[] { (0, 0), (1, 0), (2, 0), (3, 0) },
            new[] { (0, 0), (1, 1), (2, 2), (3, 3) },
            new[] { (0, 0), (0, 1), (1, 0), (1, 1) },
        };
        for (int i = 0; i < size; i++)
            foreach (var (dr, dc) in shapes[labels[i]])
                data[i * 64 + (int)(at[2 * i] + dr) * 8 + (int)at[2 * i + 1] + dc] += 2f;
        return new Batch(tensor(data, size, 1, 8, 8).DetachFromDisposeScope(), y.DetachFromDisposeScope());
    }

    private static IEnumerable<Batch> Batches(long from)
    {
        for (long i = from; ; i++) yield return MakeBatch(i);
    }

    private static double Accuracy(nn.Module<Tensor, Tensor> net)
    {
        net.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        double correct = 0, total = 0;
        for (int i = 0; i < 8; i++)
        {
            using var b = MakeBatch(100_000 + i, 32);
            var pred = net.call(b.X).argmax(1);
            correct += pred.eq(b.Y).sum().item<long>();
            total += 32;
        }
        return correct / total;
    }

    private static TrainSettings Settings(int iterations) => new()
    {
        Iterations = iterations,
        Optimizer = OptimizerKind.Adam,
        Lr = 0.01,
        WarmupSteps = 0,
        Schedule = ScheduleKind.Constant,
        WeightDecay = 0,
    };

    [Fact]
    public void QatFineTuneKeepsAccuracyAndLossFalls()
    {
        using var net = TestNets.Classifier();
        var trainer = new Trainer();
        trainer.Fit(net, Settings(40), Batches, b => new LossParts(F.cross_entropy(net.call(b.X), b.Y), new Dictionary<string, Tensor>()));
        double floatAccuracy = Accuracy(net);
        Assert.True(floatAccuracy > 0.8, $"float accuracy {floatAccuracy}");

        using (var scope = NewDisposeScope())
        {
            using var sample = MakeBatch(0);
            AwareQuantizer.Prepare(net, new QuantizationOptions(), TestNets.Forward(net), sample.X);
        }
        var losses = new List<double>();
        long step = 0;
        var result = trainer.Fit(net, Settings(30) with { Lr = 0.002 }, b => Batches(1000 + b), b =>
        {
            if (step++ == 20) AwareQuantizer.FreezeBatchNorm(net);
            var loss = F.cross_entropy(net.call(b.X), b.Y);
            losses.Add(loss.item<double>());
            return new LossParts(loss, new Dictionary<string, Tensor>());
        }, checkpointDir: _dir);
        Assert.True(((QuantConv2d)net.get_submodule("conv1")).BatchNormFrozen);
        // The loss falls (0.67 → 0.46 here): at least by a tenth, so a QAT step that does nothing fails.
        Assert.True(losses.Skip(20).Average() < losses.Take(5).Average() * 0.9, $"QAT loss went from {losses.Take(5).Average()} to {losses.Skip(20).Average()}");

        var quant = QuantizationResult.ToFakeQuant(net);
        Assert.Equal(new[] { "conv1", "conv2", "fc" }, quant.Layers.Select(l => l.ModulePath));
        Assert.Equal("moving_average_abs_max", quant.ActivationAlgorithm);
        double quantAccuracy = Accuracy(net);
        output.WriteLine($"float accuracy {floatAccuracy:F4}, QAT accuracy {quantAccuracy:F4}, QAT loss {losses.Take(5).Average():F4} → {losses.Skip(20).Average():F4}");
        Assert.True(quantAccuracy >= floatAccuracy - 0.05, $"float {floatAccuracy}, QAT {quantAccuracy}");

        // The trainer's checkpoint of the QAT model is readable by name and fits a freshly prepared model.
        using var fresh = TestNets.Classifier();
        using (var scope = NewDisposeScope())
        {
            using var sample = MakeBatch(0);
            AwareQuantizer.Prepare(fresh, new QuantizationOptions(), TestNets.Forward(fresh), sample.X);
        }
        var meta = ArchitectureCheck.VerifyAndLoad(fresh, result.LastCheckpoint!);
        Assert.Equal("30", meta["train.iteration"]);
    }

    [Fact]
    public void NoTensorsLeakInAQatStepOrAPtqPass()
    {
        using var net = TestNets.Detector();
        using (var scope = NewDisposeScope())
            AwareQuantizer.Prepare(net, new QuantizationOptions { NotQuant = new[] { "se_block" } }, TestNets.Forward(net), randn(2, 3, 8, 8));
        net.train();
        using var optimizer = new optim.SGD(net.parameters(), 0.01, 0.9);
        void Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var y = net.call(randn(2, 3, 8, 8));
            y.square().mean().backward();
            optimizer.step();
        }
        Step(); // creates the momentum buffers and gradients
        long before = Tensor.LiveCount;
        Step();
        Step();
        Assert.Equal(before, Tensor.LiveCount);

        using var other = TestNets.Detector();
        PostTrainingQuantizer ptq;
        using (var scope = NewDisposeScope())
            ptq = PostTrainingQuantizer.Prepare(other, new QuantizationOptions { Algorithm = CalibrationAlgo.Kl }, TestNets.Forward(other), randn(2, 3, 8, 8));
        long beforePtq = Tensor.LiveCount;
        ptq.Calibrate(Generated());
        Assert.Equal(beforePtq, Tensor.LiveCount);
    }

    private static IEnumerable<Tensor> Generated()
    {
        for (int i = 0; i < 3; i++) yield return randn(2, 3, 8, 8);
    }

    [Fact]
    public void CheckpointOfAnotherArchitectureIsRefusedNamingTheMismatches()
    {
        using var model = TestNets.Classifier(classes: 4);
        using var other = TestNets.Classifier(classes: 10);
        string path = Path.Combine(_dir, "other.ckpt");
        Checkpoint.Save(path, other.state_dict().Select(kv => new KeyValuePair<string, Tensor>("model." + kv.Key, kv.Value)));
        var e = Assert.Throws<QuantizationException>(() => ArchitectureCheck.VerifyAndLoad(model, path));
        Assert.Contains(path, e.Message);
        Assert.Contains("fc.weight: checkpoint [10, 16], model [4, 16]", e.Message);
        Assert.Contains("fc.bias", e.Message);

        using var detector = TestNets.Detector();
        var d = ArchitectureCheck.Differences(detector, model.state_dict());
        Assert.Contains(d, s => s.Contains("missing from the checkpoint") && s.Contains("stem.0.weight"));
        Assert.Contains(d, s => s.Contains("the model does not have") && s.Contains("conv1.weight"));

        string same = Path.Combine(_dir, "same.ckpt");
        using var twin = TestNets.Classifier(seed: 99, classes: 4);
        Checkpoint.Save(same, twin.state_dict());
        ArchitectureCheck.VerifyAndLoad(model, same);
        Assert.True(model.get_parameter("fc.weight").equal(twin.get_parameter("fc.weight")));
    }
}
