using Slim.Models;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Models;

public class ChannelOverrideTests
{
    private static ModelOptions Pruned(Dictionary<string, int> overrides) =>
        new() { NumClasses = 3, Width = 0.25, InputSize = 96, ChannelOverrides = overrides };

    [Fact]
    public void OverriddenConvsGetTheirWidthAndConsumersFollow()
    {
        using var scope = NewDisposeScope();
        var overrides = new Dictionary<string, int>
        {
            ["yolo_block.0.0.0.conv"] = 20,
            ["yolo_block.0.tip.conv"] = 40,
            ["yolo_transition.0.conv"] = 24,
            ["backbone.conv2_1.pw.conv"] = 12,
            ["backbone.conv6.pw.conv"] = 200,
        };
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v1", Pruned(overrides));
        Assert.Equal(new long[] { 12, 8, 1, 1 }, model.get_parameter("backbone.conv2_1.pw.conv.weights").shape);
        Assert.Equal(new long[] { 12, 1, 3, 3 }, model.get_parameter("backbone.conv2_2.dw.conv.weights").shape);
        Assert.Equal(new long[] { 12 }, model.get_parameter("backbone.conv2_2.dw.bn.scale").shape);
        Assert.Equal(new long[] { 32, 12, 1, 1 }, model.get_parameter("backbone.conv2_2.pw.conv.weights").shape);
        Assert.Equal(new long[] { 20, 200, 1, 1 }, model.get_parameter("yolo_block.0.0.0.conv.weights").shape);
        Assert.Equal(new long[] { 256, 20, 3, 3 }, model.get_parameter("yolo_block.0.0.1.conv.weights").shape);
        Assert.Equal(new long[] { 24, 40, 1, 1 }, model.get_parameter("yolo_output.0.conv.weights").shape);
        Assert.Equal(new long[] { 24, 128, 1, 1 }, model.get_parameter("yolo_transition.0.conv.weights").shape);
        Assert.Equal(new long[] { 64, 24 + 128, 1, 1 }, model.get_parameter("yolo_block.1.0.0.conv.weights").shape);

        model.eval();
        using var _ = no_grad();
        var outputs = model.call(randn(1, 3, 96, 96));
        Assert.Equal(new long[] { 1, 24, 3, 3 }, outputs[0].shape);
        Assert.Equal(new long[] { 1, 24, 12, 12 }, outputs[2].shape);
    }

    [Fact]
    public void MetadataAloneRebuildsThePrunedModelAndItsWeightsLoad()
    {
        using var scope = NewDisposeScope();
        var options = Pruned(new Dictionary<string, int>
        {
            ["yolo_block.1.1.1.conv"] = 72,
            ["backbone.blocks.3.se_block.conv1"] = 5,
            ["backbone.blocks.4.expand.conv"] = 40,
        });
        using var original = ModelRegistry.CreateDetector("yolov3_mobilenet_v3_large", options);
        var metadata = options.ToMetadata("yolov3_mobilenet_v3_large");
        metadata["train.epoch"] = "7"; // other stages' keys sit beside the model's
        Assert.Equal("72", metadata["model.channels.yolo_block.1.1.1.conv"]);

        var (architecture, parsed) = ModelOptions.FromMetadata(metadata);
        Assert.Equal("yolov3_mobilenet_v3_large", architecture);
        Assert.Equal(options, parsed);

        using var rebuilt = (YoloV3)ModelRegistry.CreateFromMetadata(metadata);
        var a = original.state_dict();
        var b = rebuilt.state_dict();
        Assert.Equal(a.Keys, b.Keys);
        foreach (var (k, t) in a) Assert.Equal(t.shape, b[k].shape);
        rebuilt.load_state_dict(a);

        original.eval();
        rebuilt.eval();
        using var _ = no_grad();
        var x = randn(1, 3, 96, 96);
        var ya = original.call(x);
        var yb = rebuilt.call(x);
        for (int i = 0; i < 3; i++) Assert.True((ya[i] - yb[i]).abs().max().item<float>() == 0f);
    }

    [Fact]
    public void UnknownOverridePathFailsWithNearestConv()
    {
        var ex = Assert.Throws<ModelException>(() =>
            ModelRegistry.Create("yolov3_mobilenet_v1", Pruned(new() { ["yolo_block.0.0.0.cnv"] = 8 })));
        Assert.Contains("'yolo_block.0.0.0.cnv'", ex.Message);
        Assert.Contains("did you mean 'yolo_block.0.0.0.conv'", ex.Message);
    }

    [Fact]
    public void DepthwiseOverrideMustKeepItsInputWidth()
    {
        var ex = Assert.Throws<ModelException>(() =>
            ModelRegistry.Create("yolov3_mobilenet_v1", Pruned(new() { ["backbone.conv2_1.dw.conv"] = 4 })));
        Assert.Contains("backbone.conv2_1.dw.conv", ex.Message);
        Assert.Contains("depthwise", ex.Message);
        // Repeating the width it has anyway is accepted.
        using var ok = ModelRegistry.Create("yolov3_mobilenet_v1", Pruned(new() { ["backbone.conv2_1.dw.conv"] = 8 }));
    }

    [Fact]
    public void OutputConvWidthIsFixedByClasses()
    {
        var ex = Assert.Throws<ModelException>(() =>
            ModelRegistry.Create("yolov3_mobilenet_v1", Pruned(new() { ["yolo_output.1.conv"] = 9 })));
        Assert.Contains("yolo_output.1.conv", ex.Message);
        Assert.Contains("must be 24", ex.Message);
    }

    [Fact]
    public void ResidualOverrideThatBreaksTheAddFails()
    {
        // blocks.4 of the large MobileNetV3 adds its input to its linear conv.
        var ex = Assert.Throws<ModelException>(() =>
            ModelRegistry.Create("yolov3_mobilenet_v3_large", Pruned(new() { ["backbone.blocks.4.linear.conv"] = 8 })));
        Assert.Contains("backbone.blocks.4", ex.Message);
        Assert.Contains("residual", ex.Message);
    }

    [Fact]
    public void ResNetShortcutFollowsItsBranch()
    {
        using var scope = NewDisposeScope();
        var options = new ModelOptions
        {
            NumClasses = 10, Width = 0.25, InChannels = 1, InputSize = 28,
            ChannelOverrides = new Dictionary<string, int> { ["backbone.res3a.branch2b.conv"] = 24, ["backbone.res3a.branch1.conv"] = 24, ["backbone.res3b.branch2b.conv"] = 24, ["backbone.res3a.branch2a.conv"] = 10 },
        };
        using var model = ModelRegistry.CreateClassifier("resnet18", options);
        Assert.Equal(new long[] { 10, 16, 3, 3 }, model.get_parameter("backbone.res3a.branch2a.conv.weights").shape);
        Assert.Equal(new long[] { 24, 10, 3, 3 }, model.get_parameter("backbone.res3a.branch2b.conv.weights").shape);
        Assert.Equal(new long[] { 24, 16, 1, 1 }, model.get_parameter("backbone.res3a.branch1.conv.weights").shape);
        Assert.Equal(new long[] { 64, 24, 1, 1 }, model.get_parameter("backbone.res4a.branch1.conv.weights").shape);
        model.eval();
        using var _ = no_grad();
        Assert.Equal(new long[] { 2, 10 }, model.call(randn(2, 1, 28, 28)).shape);

        var mismatch = options with { ChannelOverrides = new Dictionary<string, int> { ["backbone.res3a.branch1.conv"] = 24 } };
        var ex = Assert.Throws<ModelException>(() => ModelRegistry.Create("resnet18", mismatch));
        Assert.Contains("backbone.res3a.branch1.conv", ex.Message);
    }

    [Fact]
    public void NonPositiveOverrideIsRejected()
    {
        var ex = Assert.Throws<ModelException>(() => ModelRegistry.Create("mobilenet_v1", new ModelOptions
        {
            NumClasses = 10, Width = 0.25, InputSize = 32, ChannelOverrides = new Dictionary<string, int> { ["backbone.conv1.conv"] = 0 },
        }));
        Assert.Contains("backbone.conv1.conv", ex.Message);
    }
}
