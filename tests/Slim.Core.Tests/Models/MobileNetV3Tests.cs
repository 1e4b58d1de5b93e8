using Slim.Models;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Models;

public class MobileNetV3Tests
{
    [Fact]
    public void LargeHasSeAndResConv1ScopesWherePaddleHasThem()
    {
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v3_large", new ModelOptions { NumClasses = 2, Width = 0.25, InputSize = 64 });
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        // Units 3-5 and 10-14 of the large configuration carry squeeze-excitation.
        var withSe = Enumerable.Range(0, 15).Where(i => modules.ContainsKey($"backbone.blocks.{i}.se_block")).ToArray();
        Assert.Equal(new[] { 3, 4, 5, 10, 11, 12, 13, 14 }, withSe);
        Assert.IsType<Conv2d>(modules["backbone.blocks.3.se_block.conv1"]);
        Assert.IsType<Conv2d>(modules["backbone.blocks.3.se_block.conv2"]);
        for (int i = 0; i < 15; i++)
        {
            var depthwise = Assert.IsType<Conv2d>(modules[$"backbone.blocks.{i}.res_conv1.conv"]);
            Assert.True(depthwise.IsDepthwise, $"blocks.{i}.res_conv1 should be depthwise");
            Assert.True(modules.ContainsKey($"backbone.blocks.{i}.expand.conv"));
            Assert.True(modules.ContainsKey($"backbone.blocks.{i}.linear.conv"));
        }
        Assert.Contains("backbone.blocks.3.se_block.conv1.weights", model.named_parameters().Select(p => p.name));
        Assert.Equal(ActivationKind.HardSwish, ((ConvBN)modules["backbone.conv1"]).Act!.Kind);
        Assert.Equal(ActivationKind.HardSwish, ((ConvBN)modules["backbone.blocks.6.expand"]).Act!.Kind);
        Assert.Equal(ActivationKind.ReLU, ((ConvBN)modules["backbone.blocks.5.expand"]).Act!.Kind);
        Assert.Null(((ConvBN)modules["backbone.blocks.5.linear"]).Act);
    }

    [Fact]
    public void ResidualAddsWhereWidthAndResolutionAreKept()
    {
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v3_large", new ModelOptions { NumClasses = 2, InputSize = 64 });
        var blocks = Enumerable.Range(0, 15).Select(i => (MobileNetV3Block)model.get_submodule($"backbone.blocks.{i}")).ToArray();
        var residual = blocks.Select((b, i) => (b, i)).Where(x => x.b.HasResidual).Select(x => x.i).ToArray();
        Assert.Equal(new[] { 0, 2, 4, 5, 7, 8, 9, 11, 13, 14 }, residual);
        // Paddle keeps an expansion conv even where the expansion equals the input (unit 0: 16 → 16).
        Assert.Equal(new long[] { 16, 16, 1, 1 }, model.get_parameter("backbone.blocks.0.expand.conv.weights").shape);
        // Squeeze width is a quarter of the expanded width (unit 3: 72 → 18).
        Assert.Equal(new long[] { 18, 72, 1, 1 }, model.get_parameter("backbone.blocks.3.se_block.conv1.weights").shape);
    }

    [Fact]
    public void SmallHasSeInItsFirstUnit()
    {
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v3_small", new ModelOptions { NumClasses = 2, InputSize = 64 });
        var names = model.named_modules().Select(m => m.name).ToHashSet();
        Assert.Contains("backbone.blocks.0.se_block", names);
        Assert.DoesNotContain("backbone.blocks.1.se_block", names);
        Assert.Contains("backbone.blocks.10.res_conv1", names);
        Assert.DoesNotContain("backbone.blocks.11", names);
    }

    [Fact]
    public void SeBlockScalesEachChannelByHardSigmoidOfItsSqueeze()
    {
        // Reference computed by hand from the block's own weights: mean over space → conv1 → ReLU → conv2 → hardsigmoid → scale.
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v3_large", new ModelOptions { NumClasses = 2, Width = 0.25, InputSize = 64 });
        var se = (SEBlock)model.get_submodule("backbone.blocks.3.se_block");
        var c1 = (Conv2d)model.get_submodule("backbone.blocks.3.se_block.conv1");
        var c2 = (Conv2d)model.get_submodule("backbone.blocks.3.se_block.conv2");
        var x = randn(new long[] { 2, c1.in_channels, 5, 5 }, new Slim.Torch.Generator(3));
        using var _ = no_grad();
        var pooled = x.mean(new long[] { 2, 3 });                                     // [N, C]
        var h = (pooled.matmul(c1.weight.flatten(1).t()) + c1.bias!).clamp_min(0);
        var s = h.matmul(c2.weight.flatten(1).t()) + c2.bias!;
        s = (s / 6 + 0.5).clamp(0, 1);
        var expected = x * s.unsqueeze(-1).unsqueeze(-1);
        var actual = se.call(x);
        Assert.True((actual - expected).abs().max().item<float>() < 1e-5f);
    }
}
