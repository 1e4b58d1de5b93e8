using Slim.Models;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Models;

public class YoloV3Tests
{
    private static readonly string[] Detectors =
        { "yolov3_mobilenet_v1", "yolov3_mobilenet_v3_large", "yolov3_mobilenet_v3_small", "yolov3_resnet34" };

    private static ModelOptions Tiny(int classes = 3, int size = 64) => new() { NumClasses = classes, Width = 0.25, InputSize = size };

    [Fact]
    public void ParameterNamesFollowPaddleDetection()
    {
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v1", Tiny());
        var parameters = model.named_parameters().Select(p => p.name).ToHashSet();
        var buffers = model.named_buffers().Select(b => b.name).ToHashSet();
        foreach (var name in new[]
                 {
                     "yolo_block.0.0.0.conv.weights", "yolo_block.0.0.0.bn.scale", "yolo_block.0.0.0.bn.offset",
                     "yolo_block.0.0.1.conv.weights", "yolo_block.0.1.0.conv.weights", "yolo_block.0.1.1.conv.weights",
                     "yolo_block.0.2.conv.weights", "yolo_block.2.tip.conv.weights", "yolo_block.2.tip.bn.scale",
                     "yolo_output.0.conv.weights", "yolo_output.0.conv.bias", "yolo_output.2.conv.bias",
                     "yolo_transition.0.conv.weights", "yolo_transition.1.bn.offset",
                     "backbone.conv1.conv.weights", "backbone.conv1.bn.scale",
                     "backbone.conv2_1.dw.conv.weights", "backbone.conv2_1.pw.conv.weights",
                     "backbone.conv5_5.pw.bn.scale", "backbone.conv6.pw.conv.weights",
                 })
            Assert.Contains(name, parameters);
        Assert.Contains("yolo_block.0.0.0.bn.mean", buffers);
        Assert.Contains("yolo_block.0.0.0.bn.var", buffers);
        Assert.Contains("yolo_block.2.tip.bn.var", buffers);
        Assert.DoesNotContain(parameters, n => n.StartsWith("yolo_transition.2", StringComparison.Ordinal));
        Assert.DoesNotContain(parameters, n => n.StartsWith("yolo_block.0", StringComparison.Ordinal) && n.EndsWith(".conv.bias", StringComparison.Ordinal));
        Assert.Equal(13, model.named_modules().Count(m => m.name.StartsWith("backbone.conv", StringComparison.Ordinal) && m.name.EndsWith(".pw", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("yolov3_mobilenet_v1")]
    [InlineData("yolov3_mobilenet_v3_large")]
    [InlineData("yolov3_resnet34")]
    public void HeadHasTheEighteenConvWeightsInPaddleOrder(string name)
    {
        using var model = ModelRegistry.CreateDetector(name, Tiny());
        var expected = new List<string>();
        for (int i = 0; i < 3; i++)
            foreach (var j in new[] { "0.0", "0.1", "1.0", "1.1", "2", "tip" })
                expected.Add($"yolo_block.{i}.{j}.conv.weights");
        var actual = model.named_parameters().Select(p => p.name)
            .Where(n => n.StartsWith("yolo_block.", StringComparison.Ordinal) && n.EndsWith(".conv.weights", StringComparison.Ordinal))
            .ToList();
        Assert.Equal(expected, actual);
    }

    public static IEnumerable<object[]> ShapeCases() =>
        from d in Detectors from s in new[] { 64, 96, 160 } select new object[] { d, s };

    [Theory]
    [MemberData(nameof(ShapeCases))]
    public void TinyDetectorsGiveThreeOutputsAtStrides32_16_8(string name, int size)
    {
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.CreateDetector(name, Tiny(classes: 4, size: size));
        model.eval();
        using var _ = no_grad();
        var outputs = model.call(randn(2, 3, size, size));
        Assert.Equal(3, outputs.Length);
        for (int i = 0; i < 3; i++)
        {
            int stride = YoloV3.OutputStrides[i];
            Assert.Equal(new long[] { 2, 3 * (5 + 4), size / stride, size / stride }, outputs[i].shape);
        }
    }

    [Fact]
    public void TrainingModeForwardAndBackwardReachEveryParameter()
    {
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v3_small", Tiny(size: 64));
        var outputs = model.call(randn(2, 3, 64, 64));
        outputs.Select(o => o.sum()).Aggregate((a, b) => a + b).backward();
        var missing = model.named_parameters().Where(p => p.parameter.grad is null).Select(p => p.name).ToList();
        Assert.Empty(missing);
    }

    [Fact]
    public void FullWidthHeadHasPaddleChannelCounts()
    {
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v1", new ModelOptions { NumClasses = 80 });
        Assert.Equal(new[] { 256, 512, 1024 }, model.Backbone.OutChannels);
        Assert.Equal(new long[] { 512, 1024, 1, 1 }, model.get_parameter("yolo_block.0.0.0.conv.weights").shape);
        Assert.Equal(new long[] { 1024, 512, 3, 3 }, model.get_parameter("yolo_block.0.tip.conv.weights").shape);
        Assert.Equal(new long[] { 255, 1024, 1, 1 }, model.get_parameter("yolo_output.0.conv.weights").shape);
        Assert.Equal(new long[] { 256, 512, 1, 1 }, model.get_parameter("yolo_transition.0.conv.weights").shape);
        // Route (256 after the transition) is concatenated before the stride-16 map (512).
        Assert.Equal(new long[] { 256, 768, 1, 1 }, model.get_parameter("yolo_block.1.0.0.conv.weights").shape);
        Assert.Equal(new long[] { 128, 256, 1, 1 }, model.get_parameter("yolo_transition.1.conv.weights").shape);
        Assert.Equal(new long[] { 128, 384, 1, 1 }, model.get_parameter("yolo_block.2.0.0.conv.weights").shape);
        Assert.Equal(new long[] { 255, 256, 1, 1 }, model.get_parameter("yolo_output.2.conv.weights").shape);
        Assert.Equal(new long[] { 32, 3, 3, 3 }, model.get_parameter("backbone.conv1.conv.weights").shape);
        Assert.Equal(new long[] { 1024, 1, 3, 3 }, model.get_parameter("backbone.conv6.dw.conv.weights").shape);
    }

    [Theory]
    [InlineData("yolov3_mobilenet_v1", 1.0, new[] { 256, 512, 1024 })]
    [InlineData("yolov3_mobilenet_v1", 0.25, new[] { 64, 128, 256 })]
    [InlineData("yolov3_mobilenet_v3_large", 1.0, new[] { 40, 112, 160 })]
    [InlineData("yolov3_mobilenet_v3_small", 1.0, new[] { 24, 48, 96 })]
    [InlineData("yolov3_resnet34", 1.0, new[] { 128, 256, 512 })]
    public void BackboneFeatureChannels(string name, double width, int[] channels)
    {
        using var model = ModelRegistry.CreateDetector(name, new ModelOptions { NumClasses = 1, Width = width, InputSize = 64 });
        Assert.Equal(channels, model.Backbone.OutChannels);
    }

    [Fact]
    public void FeaturePathsAreHookableAndMatchTheHeadInputs()
    {
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v1", Tiny(size: 96));
        model.eval();
        Assert.Equal(new[] { "backbone.conv3_2", "backbone.conv4_2", "backbone.conv6" }, model.BackboneFeaturePaths);
        var seen = new Dictionary<string, long[]>();
        var hooks = model.BackboneFeaturePaths.Concat(model.RoutePaths).Concat(model.TipPaths)
            .Select(p => model.get_submodule(p).register_forward_hook((_, _, output) =>
            {
                seen[p] = ((Tensor)output).shape;
                return null;
            }))
            .ToList();
        using (no_grad()) model.call(zeros(1, 3, 96, 96));
        foreach (var h in hooks) h.Dispose();
        Assert.Equal(new long[] { 1, 64, 12, 12 }, seen["backbone.conv3_2"]);
        Assert.Equal(new long[] { 1, 128, 6, 6 }, seen["backbone.conv4_2"]);
        Assert.Equal(new long[] { 1, 256, 3, 3 }, seen["backbone.conv6"]);
        Assert.Equal(new long[] { 1, 128, 3, 3 }, seen["yolo_block.0.2"]);
        Assert.Equal(new long[] { 1, 64, 6, 6 }, seen["yolo_block.1.2"]);
        Assert.Equal(new long[] { 1, 32, 12, 12 }, seen["yolo_block.2.2"]);
        Assert.Equal(new long[] { 1, 64, 12, 12 }, seen["yolo_block.2.tip"]);
    }

    [Fact]
    public void RouteIsUpsampledAndConcatenatedBeforeTheNextBackboneMap()
    {
        // Recompute the input of yolo_block.1 by hand from hooked tensors: transition(route 0), nearest ×2, then
        // [route, stride-16 map] along channels, as Paddle's concat([route, block]) orders them.
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v1", Tiny(size: 64));
        model.eval();
        Tensor? route0 = null, feature16 = null, block1Input = null;
        using var h1 = model.get_submodule("yolo_block.0.2").register_forward_hook((_, _, o) => { route0 = (Tensor)o; return null; });
        using var h2 = model.get_submodule("backbone.conv4_2").register_forward_hook((_, _, o) => { feature16 = (Tensor)o; return null; });
        using var h3 = model.get_submodule("yolo_block.1").register_forward_hook((_, i, _) => { block1Input = (Tensor)i; return null; });
        using var _ = no_grad();
        model.call(randn(1, 3, 64, 64));
        var transition = (ConvBN)model.get_submodule("yolo_transition.0");
        var t = transition.call(route0!);
        var repeat = AtenOp.Get("aten::repeat_interleave.self_int");
        var up = repeat.Tensor(repeat.Tensor(t, 2L, 2L), 2L, 3L);
        var expected = cat(new[] { up, feature16! }, 1);
        Assert.Equal(expected.shape, block1Input!.shape);
        Assert.True((expected - block1Input).abs().max().item<float>() == 0f);
    }

    [Fact]
    public void ForwardLeavesNoTensorsBehindItsScope()
    {
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v3_large", Tiny());
        model.eval();
        long before = Tensor.LiveCount;
        using (var scope = NewDisposeScope())
        using (no_grad())
            model.call(randn(1, 3, 64, 64));
        Assert.Equal(before, Tensor.LiveCount);
    }
}
