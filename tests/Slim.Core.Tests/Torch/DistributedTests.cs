using Slim.Torch;
using Slim.Torch.Modules;
using Slim.Training;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;
using static Slim.Core.Tests.Torch.Ranks;

namespace Slim.Core.Tests.Torch;

/// <summary>
/// c10d process groups over Gloo on loopback: two ranks, here two threads of the test process, each with its own group
/// membership, meeting at a file or a TCP rendezvous exactly as two processes would.
/// </summary>
public sealed class DistributedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-dist-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData("file")]
    [InlineData("tcp")]
    public void CollectivesCombineTheRanksValues(string rendezvous)
    {
        var init = rendezvous == "file" ? $"file://{Path.Combine(_dir, "store")}" : $"tcp://127.0.0.1:{FreePort()}";
        var seen = OnRanks(2, init, g =>
        {
            using var scope = NewDisposeScope();
            var sum = full(new long[] { 3 }, g.rank + 1.0);
            g.all_reduce(sum);
            var max = tensor(new float[] { g.rank, -g.rank });
            g.all_reduce(max, ReduceOp.MAX);
            var b = full(new long[] { 2 }, 10.0 + g.rank);
            g.broadcast(new[] { b }, src: 1);
            var gathered = g.all_gather(tensor(new float[] { g.rank * 2f, 7 }));
            g.barrier();
            return (g.rank, g.world_size, Sum: sum.data<float>().ToArray(), Max: max.data<float>().ToArray(), B: b.data<float>().ToArray(),
                Gathered: gathered.data<float>().ToArray(), GatheredShape: gathered.shape);
        });
        foreach (var s in seen)
        {
            Assert.Equal(2, s.world_size);
            Assert.Equal(new float[] { 3, 3, 3 }, s.Sum);
            Assert.Equal(new float[] { 1, 0 }, s.Max);
            Assert.Equal(new float[] { 11, 11 }, s.B);
            Assert.Equal(new long[] { 2, 2 }, s.GatheredShape);
            Assert.Equal(new float[] { 0, 7, 2, 7 }, s.Gathered);
        }
        Assert.Equal(new[] { 0, 1 }, seen.Select(s => s.rank));
    }

    private static Sequential Net() => new(
        new Conv2d(3, 6, 3, 1, 1), new Activation(ActivationKind.ReLU), new Conv2d(6, 4, 3, 2, 1), new Activation(ActivationKind.HardSwish),
        new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, 5));

    private static (Tensor X, Tensor Y) Batch() => (randn(new long[] { 4, 3, 8, 8 }, new Generator(21)), randn(new long[] { 4, 5 }, new Generator(22)));

    // Two SGD steps with momentum; loss the mean squared error over the rows given.
    private static void Steps(nn.Module<Tensor, Tensor> net, Tensor x, Tensor y, DataParallel? dp)
    {
        var opt = new optim.SGD(net.parameters(), lr: 0.1, momentum: 0.9);
        for (int step = 0; step < 2; step++)
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            F.mse_loss(net.call(x), y).backward();
            dp?.AverageGradients();
            opt.step();
        }
    }

    [Fact]
    public void ADataParallelStepOverTwoHalfBatchesEqualsOneStepOverTheWholeBatch()
    {
        using var scope = NewDisposeScope();
        var (x, y) = Batch();
        manual_seed(5);
        using var single = Net();
        var start = single.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        Steps(single, x, y, null);
        var want = single.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());

        var got = OnRanks(2, $"file://{Path.Combine(_dir, "dp")}", g =>
        {
            using var rankScope = NewDisposeScope();
            manual_seed(100 + g.rank); // different weights on each rank: the broadcast must make them rank 0's
            using var net = Net();
            if (g.rank == 0) net.load_state_dict(start);
            var dp = new DataParallel(g, net);
            dp.BroadcastParameters();
            Steps(net, x.narrow(0, 2 * g.rank, 2), y.narrow(0, 2 * g.rank, 2), dp);
            return net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
        });
        foreach (var rank in got)
            foreach (var (name, values) in want)
            {
                double diff = values.Zip(rank[name]).Max(p => Math.Abs(p.First - p.Second));
                Assert.True(diff < 1e-6, $"{name}: data-parallel and single-process parameters differ by {diff:E2}");
            }
        // The two ranks end equal bit for bit: each applied the same averaged gradients to the same start.
        Assert.All(got[0], kv => Assert.Equal(kv.Value, got[1][kv.Key]));
        // And the comparison can fail: half a batch alone takes another step.
        manual_seed(5);
        using var half = Net();
        half.load_state_dict(start);
        Steps(half, x.narrow(0, 0, 2), y.narrow(0, 0, 2), null);
        Assert.Contains(half.state_dict(), kv => kv.Value.data<float>().Zip(want[kv.Key]).Max(p => Math.Abs(p.First - p.Second)) > 1e-4);
    }

    [Fact]
    public void AMalformedRendezvousIsAnErrorSayingWhatIsExpected()
    {
        Assert.Contains("expected file:///path, tcp://host:port or env://",
            Assert.Throws<TorchException>(() => distributed.init_process_group("gloo", "http://x", 0, 1)).Message);
        Assert.Contains("port 1…65535", Assert.Throws<TorchException>(() => distributed.init_process_group("gloo", "tcp://127.0.0.1:0", 0, 1)).Message);
        Assert.Contains("rank 2 is not in 0…1", Assert.Throws<TorchException>(() => distributed.init_process_group("gloo", "tcp://127.0.0.1:1234", 2, 2)).Message);
        Assert.Contains("use gloo", Assert.Throws<TorchException>(() => distributed.init_process_group("nccl", "env://", 0, 1)).Message);
    }

    [Fact]
    public void SmallValuesStringsAndFilesReachEveryRank()
    {
        var src = Path.Combine(_dir, "rank0.bin");
        var bytes = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 7)).ToArray();
        File.WriteAllBytes(src, bytes);
        var seen = OnRanks(2, $"file://{Path.Combine(_dir, "small")}", g =>
        {
            var text = g.BroadcastString(g.rank == 0 ? "ünïcode ok" : null);
            var flag = g.BroadcastFlag(g.rank == 1, src: 1);
            var numbers = g.BroadcastDoubles(new[] { g.rank + 0.5, -g.rank * 1e300 });
            var dest = Path.Combine(_dir, $"copy{g.rank}.bin");
            g.BroadcastFile(src, dest);
            var gathered = g.AllGatherDoubles(new[] { g.rank * 1.25, 3.0 });
            var empty = g.BroadcastBytes(g.rank == 0 ? Array.Empty<byte>() : null);
            return (text, flag, numbers, Copied: File.Exists(dest) ? File.ReadAllBytes(dest) : null, gathered, empty);
        });
        foreach (var r in seen)
        {
            Assert.Equal("ünïcode ok", r.text);
            Assert.True(r.flag);
            Assert.Equal(new[] { 0.5, -0.0 }, r.numbers);
            Assert.Equal(new[] { new[] { 0.0, 3.0 }, new[] { 1.25, 3.0 } }, r.gathered);
            Assert.Empty(r.empty);
        }
        Assert.Null(seen[0].Copied); // the source rank writes nothing
        Assert.Equal(bytes, seen[1].Copied);
    }

    [Fact]
    public void CalibrationSplitOverTwoRanksGivesTheThresholdsOfOne()
    {
        using var scope = NewDisposeScope();
        var batches = Enumerable.Range(0, 5).Select(i => randn(new long[] { 2, 3, 8, 8 }, new Generator(40 + i)) * (1 + i)).ToList();
        manual_seed(6);
        using var reference = Net();
        var start = reference.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var results = new Dictionary<Slim.Compression.Quantization.CalibrationAlgo, (float[] One, float[][] Two)>();
        foreach (var algo in new[] { Slim.Compression.Quantization.CalibrationAlgo.AbsMax, Slim.Compression.Quantization.CalibrationAlgo.Avg, Slim.Compression.Quantization.CalibrationAlgo.Hist })
        {
            var options = new Slim.Compression.Quantization.QuantizationOptions { Algorithm = algo };
            float[] Scales(Slim.Compression.Quantization.QuantizationResult r) => r.Layers.Select(l => l.InputScale).ToArray();
            manual_seed(6);
            using var single = Net();
            single.load_state_dict(start);
            var one = Scales(Slim.Compression.Quantization.PostTrainingQuantizer.Run(single, options, x => new[] { single.call(x) }, batches).Result);
            var two = OnRanks(2, $"file://{Path.Combine(_dir, $"calib-{algo}")}", g =>
            {
                using var rankScope = NewDisposeScope();
                manual_seed(6);
                using var net = Net();
                net.load_state_dict(start);
                return Scales(Slim.Compression.Quantization.PostTrainingQuantizer.Run(net, options, x => new[] { net.call(x) }, batches, g).Result);
            });
            results[algo] = (one, two);
        }
        foreach (var (algo, (one, two)) in results)
        {
            Assert.Equal(two[0], two[1]); // every rank chose the same thresholds
            Assert.True(one.Length >= 3, $"{algo}: {one.Length} quantized layers");
            // abs_max and avg combine exactly; the histogram is re-binned onto the widest range (within a few bins).
            double tolerance = algo == Slim.Compression.Quantization.CalibrationAlgo.Hist ? 0.02 : 1e-6;
            for (int i = 0; i < one.Length; i++)
                Assert.True(Math.Abs(one[i] - two[0][i]) <= tolerance * one[i], $"{algo} layer {i}: one process {one[i]}, two {two[0][i]}");
        }
    }

    [Fact]
    public void MergedStatisticsAddCountsAndKeepTheMassOfEveryHistogram()
    {
        using var scope = NewDisposeScope();
        var all = new Slim.Compression.Quantization.ActivationStatistics(true);
        var even = new Slim.Compression.Quantization.ActivationStatistics(true);
        var odd = new Slim.Compression.Quantization.ActivationStatistics(true);
        for (int i = 0; i < 6; i++)
        {
            using var b = randn(new long[] { 4000 }, new Generator(60 + i)) * (i + 1);
            all.Add(b);
            (i % 2 == 0 ? even : odd).Add(b);
        }
        var merged = Slim.Compression.Quantization.ActivationStatistics.Merge(new[] { even.ToVector(), odd.ToVector() });
        Assert.Equal(all.Batches, merged.Batches);
        Assert.Equal(all.Count, merged.Count);
        Assert.Equal(all.AbsMax, merged.AbsMax);
        Assert.Equal(all.Min, merged.Min);
        Assert.Equal(all.SumOfBatchMax, merged.SumOfBatchMax, 9);
        Assert.Equal(all.Histogram!.Sum(), merged.Histogram!.Sum(), 6);
        Assert.Equal(Math.Max(even.Range, odd.Range), merged.Range);
        // Merging one set of statistics gives them back unchanged.
        Assert.Equal(even.ToVector(), Slim.Compression.Quantization.ActivationStatistics.Merge(new[] { even.ToVector() }).ToVector());
    }
}
