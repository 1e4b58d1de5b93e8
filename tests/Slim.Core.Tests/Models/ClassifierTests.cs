using Slim.Models;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Models;

public class ClassifierTests
{
    [Theory]
    [InlineData("mobilenet_v1")]
    [InlineData("mobilenet_v2")]
    [InlineData("mobilenet_v3_large")]
    [InlineData("mobilenet_v3_small")]
    [InlineData("resnet18")]
    [InlineData("resnet34")]
    [InlineData("resnet50")]
    public void OneChannelTinyClassifiersGiveLogits(string name)
    {
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.CreateClassifier(name, new ModelOptions { NumClasses = 10, Width = 0.25, InChannels = 1, InputSize = 28 });
        Assert.Equal(1, model.get_parameter("backbone.conv1.conv.weights").shape[1]);
        var logits = model.call(randn(2, 1, 28, 28));
        Assert.Equal(new long[] { 2, 10 }, logits.shape);
        logits.sum().backward();
        Assert.NotNull(model.get_parameter("backbone.conv1.conv.weights").grad);
    }

    [Fact]
    public void ResNetBlocksUsePaddleNames()
    {
        using var r50 = ModelRegistry.CreateClassifier("resnet50", new ModelOptions { NumClasses = 10, Width = 0.25, InputSize = 32 });
        var names = r50.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("backbone.res2a.branch2c.conv.weights", names);
        Assert.Contains("backbone.res2a.branch1.conv.weights", names);
        Assert.Contains("backbone.res4f.branch2b.bn.scale", names);
        Assert.Contains("fc.weights", names);
        Assert.Contains("fc.bias", names);
        Assert.DoesNotContain("backbone.res4g.branch2a.conv.weights", names);

        using var r18 = ModelRegistry.CreateClassifier("resnet18", new ModelOptions { NumClasses = 10, Width = 0.25, InputSize = 32 });
        var names18 = r18.named_modules().Select(m => m.name).ToHashSet();
        Assert.DoesNotContain("backbone.res2a.branch1", names18);
        Assert.Contains("backbone.res3a.branch1", names18);
        Assert.DoesNotContain("backbone.res2a.branch2c", names18);
        Assert.Contains("backbone.res5b", names18);
    }

    [Fact]
    public void MobileNetV2HasSeventeenInvertedResidualsWithTenAdds()
    {
        using var model = ModelRegistry.CreateClassifier("mobilenet_v2", new ModelOptions { NumClasses = 10, InputSize = 32 });
        var blocks = Enumerable.Range(0, 17).Select(i => (InvertedResidual)model.get_submodule($"backbone.blocks.{i}")).ToArray();
        Assert.Equal(10, blocks.Count(b => b.HasResidual));
        Assert.Null(model.named_modules().FirstOrDefault(m => m.name == "backbone.blocks.0.expand").module);
        Assert.NotNull(model.get_submodule("backbone.blocks.1.expand"));
        Assert.Equal(new long[] { 1280 }, model.get_parameter("backbone.conv_last.bn.scale").shape);
    }
}
