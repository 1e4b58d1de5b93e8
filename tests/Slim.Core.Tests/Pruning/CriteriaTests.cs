using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pruning;

public class CriteriaTests
{
    private static (ChainNet net, ChannelDependencyGraph graph) Chain()
    {
        var net = TestNets.Make(() => new ChainNet(), 11);
        using var scope = NewDisposeScope();
        var graph = ChannelDependencyGraph.Build(net, randn(1, 3, 8, 8));
        return (net, graph);
    }

    private static int[] Removed(ChainNet net, ChannelDependencyGraph graph, string criterion, double ratio)
    {
        var plan = new Pruner(graph, ChannelImportanceRegistry.Get(criterion)).Plan(net,
            new[] { new PruneTarget("body.conv1.conv.weights", ratio) });
        return plan.Groups.Single().RemovedChannels;
    }

    private static void SetConv1(ChainNet net, float[][] filters)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var w = ((Conv2d)net.get_submodule("body.conv1.conv")).weight;
        w.copy_(tensor(filters.SelectMany(f => f).ToArray(), w.shape));
    }

    [Fact]
    public void L1PicksSmallestFilters()
    {
        var (net, graph) = Chain();
        using var _ = net;
        var mags = new[] { 0.9f, 0.1f, 0.5f, 0.05f, 0.7f, 0.3f, 0.8f, 0.6f };
        // Signs alternate so a criterion that forgot abs() would pick differently.
        SetConv1(net, mags.Select((m, i) => Enumerable.Range(0, 27).Select(k => (k + i) % 2 == 0 ? m : -m).ToArray()).ToArray());
        Assert.Equal(new[] { 1, 3, 5 }, Removed(net, graph, "l1_norm", 0.375));
    }

    [Fact]
    public void BnScalePicksSmallestAbsoluteGamma()
    {
        var (net, graph) = Chain();
        using var _ = net;
        using (var scope = NewDisposeScope())
        using (no_grad())
            ((BatchNorm2d)net.get_submodule("body.conv1.bn")).weight.copy_(tensor(new[] { 0.9f, -0.05f, 0.5f, -2f, 0.02f, 0.3f, -0.8f, 0.6f }));
        Assert.Equal(new[] { 1, 4 }, Removed(net, graph, "bn_scale", 0.25));
    }

    [Fact]
    public void GeometryMedianPicksTheFilterAtTheCentreOfSymmetricFilters()
    {
        var (net, graph) = Chain();
        using var _ = net;
        var g = new Random(5);
        var centre = Enumerable.Range(0, 27).Select(_ => 2 + (float)g.NextDouble()).ToArray();
        var filters = new float[8][];
        filters[5] = centre;
        int slot = 0;
        // Pairs c ± d_k (plus one extra far filter): the geometric median of the layer is c itself.
        for (int k = 0; k < 3; k++)
        {
            var d = Enumerable.Range(0, 27).Select(_ => (float)(g.NextDouble() - 0.5) * (k + 1) * 0.9f).ToArray();
            while (slot == 5) slot++;
            filters[slot++] = centre.Zip(d, (c, x) => c + x).ToArray();
            while (slot == 5) slot++;
            filters[slot++] = centre.Zip(d, (c, x) => c - x).ToArray();
        }
        filters[7] = centre.Select(c => c + 3f).ToArray();
        SetConv1(net, filters);

        // Independent reference: the sum of Euclidean distances to all other filters, in plain doubles.
        var sums = filters.Select(a => filters.Sum(b => Math.Sqrt(a.Zip(b, (x, y) => (double)(x - y) * (x - y)).Sum()))).ToArray();
        var order = Enumerable.Range(0, 8).OrderBy(i => sums[i]).ToArray();
        Assert.Equal(5, order[0]);
        Assert.Equal(new[] { 5 }, Removed(net, graph, "geometry_median", 0.125));
        Assert.Equal(order.Take(3).OrderBy(i => i).ToArray(), Removed(net, graph, "geometry_median", 0.375));
        // L1 disagrees here (the centre is not the smallest filter), so the test tells the criteria apart.
        Assert.NotEqual(new[] { 5 }, Removed(net, graph, "l1_norm", 0.125));
    }

    [Fact]
    public void CoupledGroupScoresSumOverProducers()
    {
        using var net = TestNets.Make(() => new ResidualNet(), 3);
        using var scope = NewDisposeScope();
        var graph = ChannelDependencyGraph.Build(net, randn(1, 3, 8, 8));
        var group = graph.GroupOf("stem.conv.weights");
        var scores = new L1NormImportance().Score(net, group);
        var a = ((Conv2d)net.get_submodule("stem.conv")).weight.abs().sum(new long[] { 1, 2, 3 }).data<float>();
        var b = ((Conv2d)net.get_submodule("res2a_branch2b.conv")).weight.abs().sum(new long[] { 1, 2, 3 }).data<float>();
        for (int c = 0; c < 8; c++) Assert.Equal(a[c] + b[c], scores[c], 4);
    }

    [Fact]
    public void UnknownCriterionSuggestsNearest()
    {
        var e = Assert.Throws<PruningException>(() => ChannelImportanceRegistry.Get("l1norm"));
        Assert.Contains("unknown pruning criterion 'l1norm'", e.Message);
        Assert.Contains("did you mean 'l1_norm'?", e.Message);
        Assert.Contains("geometry_median", e.Message);
        Assert.Contains("(did you mean 'geometry_median'?)", Assert.Throws<PruningException>(() => ChannelImportanceRegistry.Get("geometric_median")).Message);
    }

    [Fact]
    public void BnScaleWithoutBatchNormFails()
    {
        using var net = TestNets.Make(() => new SeNet(), 3);
        using var scope = NewDisposeScope();
        var graph = ChannelDependencyGraph.Build(net, randn(1, 3, 8, 8));
        var pruner = new Pruner(graph, ChannelImportanceRegistry.Get("bn_scale"));
        var e = Assert.Throws<PruningException>(() => pruner.Plan(net, new[] { new PruneTarget("block.se_block.conv1.weights", 0.5) }));
        Assert.Contains("BatchNorm", e.Message);
    }
}
