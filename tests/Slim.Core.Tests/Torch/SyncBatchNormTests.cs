using Slim.Models;
using Slim.Torch;
using Slim.Torch.Modules;
using Slim.Training;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;
using static Slim.Core.Tests.Torch.Ranks;

namespace Slim.Core.Tests.Torch;

/// <summary>
/// Synchronized batch norm and the differentiable all-reduce under it, on two Gloo ranks that are two threads of the test
/// process (as in <see cref="DistributedTests"/>). The reference is one process with plain BatchNorm2d on the whole batch.
/// </summary>
public sealed class SyncBatchNormTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-syncbn-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void TheAllReduceSumsForwardAndSumsTheGradientsOverTheRanksBackward()
    {
        float[][] xs = { new float[] { 1, 2, 3 }, new float[] { -4, 0.5f, 6 } };
        float[][] cs = { new float[] { 2, -1, 0.25f }, new float[] { 3, 5, -2 } };
        var got = OnRanks(2, $"tcp://127.0.0.1:{FreePort()}", g =>
        {
            using var scope = NewDisposeScope();
            var x = tensor(xs[g.rank]);
            var w = tensor(new float[] { 0.5f, -1, 2 }).requires_grad_();
            var product = x.mul(w);
            var before = product.data<float>().ToArray();
            var y = distributed.nn.functional.all_reduce(product, g);
            y.mul(tensor(cs[g.rank])).sum().backward();
            return (Y: y.data<float>().ToArray(), Product: product.data<float>().ToArray(), Before: before, Grad: w.grad!.data<float>().ToArray());
        });
        float[] wv = { 0.5f, -1, 2 };
        var sum = Enumerable.Range(0, 3).Select(i => xs[0][i] * wv[i] + xs[1][i] * wv[i]).ToArray();
        for (int r = 0; r < 2; r++)
        {
            Assert.Equal(sum, got[r].Y);
            Assert.Equal(got[r].Before, got[r].Product); // the input is not reduced in place
            // dL/dw on rank r = x_r · Σ_ranks c: every rank's loss reads this rank's x·w through y.
            var want = Enumerable.Range(0, 3).Select(i => xs[r][i] * (cs[0][i] + cs[1][i])).ToArray();
            Assert.Equal(want, got[r].Grad);
        }
    }

    private static Sequential Net() => new(
        new Conv2d(3, 8, 3, 1, 1), new BatchNorm2d(8), new Activation(ActivationKind.ReLU), new Conv2d(8, 4, 3, 1, 1), new BatchNorm2d(4));

    private static (Tensor X, Tensor Y) Batch() => (randn(new long[] { 8, 3, 6, 6 }, new Generator(31)), randn(new long[] { 8, 4, 6, 6 }, new Generator(32)));

    // Two steps of SGD with momentum (the trainer's "momentum" optimizer) on the rows given. The loss is a mean squared
    // error, not the mean of the last BN's output: that mean is the mean of its bias whatever the weights, so every other
    // gradient would be zero and the comparison empty.
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

    // Parameters and running statistics after one process's steps on the whole batch, and those each rank ends with
    // after data-parallel steps on its half (rows 4r … 4r + 3), with or without the batch norms synchronized.
    private (Dictionary<string, float[]> Single, Dictionary<string, float[]>[] Ranks) Train(bool sync)
    {
        using var scope = NewDisposeScope();
        var (x, y) = Batch();
        manual_seed(7);
        using var single = Net();
        var start = single.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        Steps(single, x, y, null);
        var want = single.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());

        var ranks = OnRanks(2, $"file://{Path.Combine(_dir, sync ? "sync" : "local")}", g =>
        {
            using var rankScope = NewDisposeScope();
            manual_seed(100 + g.rank); // different weights on each rank: the broadcast must make them rank 0's
            using var net = Net();
            if (g.rank == 0) net.load_state_dict(start);
            if (sync) Assert.Equal(2, SyncBatchNorm.Convert(net, g));
            var dp = new DataParallel(g, net);
            dp.BroadcastParameters();
            Steps(net, x.narrow(0, 4 * g.rank, 4), y.narrow(0, 4 * g.rank, 4), dp);
            return net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
        });
        return (want, ranks);
    }

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b).Max(p => Math.Abs(p.First - p.Second));

    [Fact]
    public void DataParallelStepsWithSyncBatchNormOnHalfBatchesEqualOneProcessWithBatchNormOnTheWholeBatch()
    {
        var (want, ranks) = Train(sync: true);
        Assert.Contains("1.running_var", want.Keys);
        foreach (var rank in ranks)
        {
            Assert.Equal(want.Keys.Order(), rank.Keys.Order());
            foreach (var (name, values) in want)
            {
                double diff = MaxDifference(values, rank[name]);
                Assert.True(diff < 1e-5, $"{name}: synchronized data-parallel and single-process values differ by {diff:E2}");
            }
        }
    }

    [Fact]
    public void WithoutSyncBatchNormTheHalfBatchStatisticsGiveOtherParameters()
    {
        // What makes the test above meaningful: per-share statistics normalize differently, so the same comparison fails.
        var (want, ranks) = Train(sync: false);
        foreach (var rank in ranks)
        {
            var worst = want.Where(kv => !kv.Key.Contains("running")).Max(kv => MaxDifference(kv.Value, rank[kv.Key]));
            Assert.True(worst > 1e-3, $"parameters differ by at most {worst:E2}: the comparison could not tell");
        }
    }

    [Fact]
    public void ConvertKeepsTheTensorsAndNamesAndInEvalModeNormalizesAsBatchNorm2d()
    {
        OnRanks(1, $"file://{Path.Combine(_dir, "eval")}", g =>
        {
            using var scope = NewDisposeScope();
            manual_seed(3);
            // A ConvBN (Paddle names, a parent caching its typed child) and a bare BatchNorm2d in a Sequential.
            using var net = new Sequential(new ConvBN(3, 4, 3), new BatchNorm2d(4));
            using (no_grad())
                foreach (var (name, t) in net.state_dict().Where(kv => kv.Key.Contains("bn.") || kv.Key.StartsWith("1.")))
                    t.copy_(rand(t.shape).add(name.EndsWith("var") ? 0.5 : -0.5));
            var tensors = net.state_dict().ToList();
            var frozen = ((BatchNorm2d)net[1]).bias;
            frozen.requires_grad = false;
            net.eval();
            var x = randn(new long[] { 2, 3, 5, 5 }, new Generator(9));
            var want = net.call(x).data<float>().ToArray();

            Assert.Equal(2, SyncBatchNorm.Convert(net, g));
            Assert.Equal(0, SyncBatchNorm.Convert(net, g));
            Assert.IsType<SyncBatchNorm>(((ConvBN)net[0]).Bn);
            Assert.IsType<SyncBatchNorm>(net[1]);
            Assert.False(net[1].training);
            Assert.False(frozen.requires_grad);
            // The same names and the very same tensors: checkpoints load either way, optimizers stay valid.
            var after = net.state_dict().ToList();
            Assert.Equal(tensors.Select(kv => kv.Key), after.Select(kv => kv.Key));
            Assert.All(tensors.Zip(after), p => Assert.Same(p.First.Value, p.Second.Value));
            Assert.Equal(want, net.call(x).data<float>().ToArray());

            Assert.Equal(2, SyncBatchNorm.Revert(net));
            Assert.IsNotType<SyncBatchNorm>(net[1]);
            Assert.All(tensors.Zip(net.state_dict().ToList()), p => Assert.Same(p.First.Value, p.Second.Value));
            return 0;
        });
    }
}
