using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Models;
using Slim.Pipeline;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pruning;

/// <summary>Channel alignment (prune.align): kept channel counts rounded to a multiple, as FLOPs-neutral as a multiple can be.</summary>
public class AlignmentTests
{
    [Theory]
    [InlineData(256, 0.7, 8, 80)]    // the ratio keeps 77: 80 is nearer than 72
    [InlineData(512, 0.7, 8, 152)]   // keeps 154: 152 is nearer than 160
    [InlineData(128, 0.8, 8, 24)]    // keeps 26
    [InlineData(64, 0.5, 16, 32)]    // already a multiple
    [InlineData(40, 0.7, 8, 16)]     // keeps 12, halfway between 8 and 16: up
    [InlineData(256, 0.99, 8, 8)]    // keeps 3: never below one multiple
    [InlineData(8, 0.5, 8, 4)]       // no more channels than the multiple: the ratio's count
    [InlineData(100, 0.0, 8, 100)]   // unpruned groups stay whole
    [InlineData(77, 0.01, 8, 77)]    // keeps 76 of 77: rounds to 80, beyond the group: all of it
    [InlineData(256, 0.7, 1, 77)]    // off
    public void KeptChannelsRoundToTheNearestMultiple(int channels, double ratio, int align, int kept) =>
        Assert.Equal(kept, PruningRatios.ChannelsToKeep(channels, ratio, align));

    [Fact]
    public void AnAlignOfZeroIsRefused() =>
        Assert.Contains("align 0: expected 1 (off)", Assert.Throws<PruningException>(() => PruningRatios.ChannelsToKeep(16, 0.5, 0)).Message);

    [Fact]
    public void R578AlignedByEightPrunesTheFullModelToMultiplesOfEightAtAlmostTheSameFlops()
    {
        using var scope = NewDisposeScope();
        var options = new ModelOptions { NumClasses = 80, InputSize = 320 };
        PruneResult Prune(int align)
        {
            using var net = TestNets.Make(() => ModelRegistry.Create("yolov3_mobilenet_v1", options), 3);
            var graph = PruneModel.Graph(net, options);
            var targets = PruneModel.Targets(graph, null, "r578");
            var result = PruneModel.Apply(net, options, graph, targets, "l1_norm", align: align);
            // The pruned network still runs (every consumer follows its producer's new width).
            net.eval();
            using (no_grad()) Assert.Equal(3, PruneModel.Forward(net)(zeros(new long[] { 1, 3, 320, 320 })).Count());
            return result;
        }
        var plain = Prune(1);
        var aligned = Prune(8);
        Assert.Contains(plain.Plan.Groups, g => g.ChannelsAfter % 8 != 0); // r578 alone leaves odd widths (77, 154, 26, 51)
        foreach (var g in aligned.Plan.Groups)
        {
            Assert.True(g.ChannelsAfter % 8 == 0, $"{g.Parameters[0]}: {g.ChannelsAfter} channels kept");
            Assert.Equal(PruningRatios.ChannelsToKeep(g.ChannelsBefore, g.Ratio), g.KeptByRatio);
        }
        Assert.Equal(12, aligned.Plan.Groups.Count(g => g.Aligned));
        double change = aligned.After.PaddleGFlops / plain.After.PaddleGFlops - 1;
        Assert.InRange(change, -0.01, 0.01); // measured −0.35 %
        Assert.NotNull(PruneTables.Alignment(aligned));
        Assert.Null(PruneTables.Alignment(plain));
    }
}
