using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Core.Tests.Pruning;
using Slim.Models;
using Slim.Pipeline;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pipeline;

/// <summary>
/// Physical pruning of the real registry models (not hand nets): every prunable group of
/// YOLOv3-MobileNetV1, YOLOv3-MobileNetV3 (SE gates, residual adds, hard-swish) and a ResNet
/// classifier loses 30% of its channels, and the pruned model must compute what the original
/// computes with those channels zeroed (eval mode, 1e-5). The pruned model is then rebuilt from the
/// channel overrides alone and must load the pruned weights and give identical outputs.
/// </summary>
public class PruneModelsTests
{
    private const double Tolerance = 1e-5;

    public static TheoryData<string, int, int> Models => new()
    {
        { "yolov3_mobilenet_v1", 3, 64 },
        { "yolov3_mobilenet_v3_large", 3, 64 },
        { "resnet18", 5, 32 },
        { "mobilenet_v3_small", 5, 32 }, // SE squeeze widths, a hidden fully connected layer
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void PrunedEqualsMaskedAndRebuildsFromOverrides(string arch, int classes, int size)
    {
        long live = Tensor.LiveCount;
        using (var scope = NewDisposeScope())
        {
            var options = new ModelOptions { NumClasses = classes, Width = 0.25, InputSize = size };
            Func<nn.Module> ctor = () => ModelRegistry.Create(arch, options);
            using var net = TestNets.Make(ctor, 11);
            var graph = PruneModel.Graph(net, options);
            var targets = graph.PrunableGroups.Where(g => g.SourceParameters.Any())
                .Select(g => new PruneTarget(g.SourceParameters.First(), 0.3)).ToList();
            Assert.True(targets.Count > 5, $"{arch}: only {targets.Count} prunable groups");
            var plan = new Pruner(graph, ChannelImportanceRegistry.Get("l1_norm")).Plan(net, targets);

            using var masked = TestNets.Copy(ctor, net);
            TestNets.ZeroPlannedChannels(masked, plan);

            using var pruned = TestNets.Copy(ctor, net);
            var result = PruneModel.Apply(pruned, options, graph, targets, "l1_norm");
            pruned.eval();

            var forward = PruneModel.Forward(net);
            var x = randn(new long[] { 2, 3, size, size }, new Generator(5));
            using var _ = no_grad();
            var orig = forward(x).ToArray();
            var want = PruneModel.Forward(masked)(x).ToArray();
            var got = PruneModel.Forward(pruned)(x).ToArray();
            Assert.Equal(want.Length, got.Length);
            for (int i = 0; i < want.Length; i++)
            {
                double diff = TestNets.MaxAbsDiff(want[i], got[i]);
                Assert.True(diff < Tolerance, $"{arch} output {i}: pruned and masked differ by {diff}");
                Assert.True(TestNets.MaxAbsDiff(orig[i], want[i]) > 1e-3, $"{arch} output {i}: masking changed nothing");
            }

            // The graph's MAC count under the plan and ModelStats' count of the pruned model agree.
            Assert.Equal(plan.MacsAfter, result.After.Macs, 0);
            Assert.True(result.After.PaddleGFlops < result.Before.PaddleGFlops);
            Assert.True(result.After.Parameters < result.Before.Parameters);

            // Channel overrides alone rebuild the pruned architecture, also through checkpoint metadata.
            var meta = result.Options.ToMetadata(arch);
            var (arch2, options2) = ModelOptions.FromMetadata(meta);
            using var rebuilt = ModelRegistry.Create(arch2, options2);
            rebuilt.load_state_dict(pruned.state_dict());
            rebuilt.eval();
            var again = PruneModel.Forward(rebuilt)(x).ToArray();
            for (int i = 0; i < got.Length; i++) Assert.Equal(0.0, TestNets.MaxAbsDiff(got[i], again[i]));
        }
        Assert.Equal(live, Tensor.LiveCount);
    }
}
