using Slim.Models;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Models;

public class ModelRegistryTests
{
    [Fact]
    public void AllRecipeNamesAreRegistered()
    {
        Assert.Equal(new[]
        {
            "yolov3_mobilenet_v1", "yolov3_mobilenet_v3_large", "yolov3_mobilenet_v3_small", "yolov3_resnet34",
            "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "resnet18", "resnet34", "resnet50",
            "ssdlite_mobilenet_v3_large", "ssdlite_mobilenet_v3_small", "fast_scnn", "deeplabv3_mobilenet_v2", "deeplabv3p_mobilenet_v2",
        }, ModelRegistry.Names);
        Assert.Equal(ModelTask.Detection, ModelRegistry.TaskOf("yolov3_resnet34"));
        Assert.Equal(ModelTask.Classification, ModelRegistry.TaskOf("resnet50"));
        Assert.Equal(ModelTask.Ssd, ModelRegistry.TaskOf("ssdlite_mobilenet_v3_small"));
        Assert.Equal(ModelTask.Segmentation, ModelRegistry.TaskOf("deeplabv3_mobilenet_v2"));
        // Every architecture belongs to exactly one registered family.
        foreach (var name in ModelRegistry.Names) Assert.Single(Slim.Tasks.TaskRegistry.All, f => f.Architectures.Contains(name));
    }

    [Fact]
    public void UnknownNameListsValidNamesAndSuggestsTheNearest()
    {
        var ex = Assert.Throws<ModelException>(() => ModelRegistry.Create("yolov3_mobilenetv1", new ModelOptions()));
        Assert.Contains("unknown model 'yolov3_mobilenetv1'", ex.Message);
        Assert.Contains("did you mean 'yolov3_mobilenet_v1'", ex.Message);
        foreach (var name in ModelRegistry.Names) Assert.Contains(name, ex.Message);

        var far = Assert.Throws<ModelException>(() => ModelRegistry.Create("vgg16_bn_extra_wide", new ModelOptions()));
        Assert.DoesNotContain("did you mean", far.Message);
    }

    [Theory]
    [InlineData(0, 1.0, 416, 3, "num_classes")]
    [InlineData(80, 0.0, 416, 3, "width")]
    [InlineData(80, 1.0, 400, 3, "input_size")]
    [InlineData(80, 1.0, 416, 0, "in_channels")]
    public void InvalidOptionsNameTheOption(int classes, double width, int size, int inChannels, string key)
    {
        var options = new ModelOptions { NumClasses = classes, Width = width, InputSize = size, InChannels = inChannels };
        var ex = Assert.Throws<ModelException>(() => ModelRegistry.Create("yolov3_mobilenet_v1", options));
        Assert.Contains(key, ex.Message);
    }

    [Fact]
    public void WrongTaskIsAnError()
    {
        var ex = Assert.Throws<ModelException>(() => ModelRegistry.CreateDetector("resnet18", new ModelOptions { NumClasses = 10, InputSize = 32 }));
        Assert.Contains("classifier", ex.Message);
        Assert.Throws<ModelException>(() => ModelRegistry.CreateClassifier("yolov3_resnet34", new ModelOptions()));
    }

    [Fact]
    public void MetadataWithoutAKeyNamesIt()
    {
        var metadata = new ModelOptions().ToMetadata("resnet18");
        metadata.Remove("model.num_classes");
        var ex = Assert.Throws<ModelException>(() => ModelRegistry.CreateFromMetadata(metadata));
        Assert.Contains("model.num_classes", ex.Message);

        var bad = new ModelOptions().ToMetadata("resnet18");
        bad["model.width"] = "wide";
        Assert.Contains("model.width", Assert.Throws<ModelException>(() => ModelOptions.FromMetadata(bad)).Message);
    }

    [Fact]
    public void MetadataRoundTripKeepsEveryOption()
    {
        var options = new ModelOptions
        {
            NumClasses = 20, Width = 0.375, InputSize = 320, InChannels = 1, AnchorsPerScale = 2,
            ChannelOverrides = new Dictionary<string, int> { ["a.conv"] = 3, ["b.c.conv"] = 17 }, Layout = ModelLayout.Paddle,
        };
        var (name, back) = ModelOptions.FromMetadata(options.ToMetadata("yolov3_resnet34"));
        Assert.Equal("yolov3_resnet34", name);
        Assert.Equal(options, back);
        Assert.NotEqual(options, back with { Width = 0.5 });
        Assert.NotEqual(options, back with { Layout = null });
        // Checkpoints written before layouts existed have no key: the architecture's default.
        Assert.Null(ModelOptions.FromMetadata(new ModelOptions().ToMetadata("resnet18")).options.Layout);
        var bad = options.ToMetadata("resnet18");
        bad["model.layout"] = "caffe";
        Assert.Contains("expected paddle or torchvision", Assert.Throws<ModelException>(() => ModelOptions.FromMetadata(bad)).Message);
    }

    [Theory]
    // Paddle's form adds: MobileNetV2's first expansion (32 → 32: 1024 weights + 4 × 32 BN), a ResNet18/34's res2a
    // projection (64 → 64: 4096 + 4 × 64); MobileNetV3's torchvision form drops the first expansion (16 → 16) and
    // rounds the SE squeeze up to multiples of 8.
    [InlineData("mobilenet_v2", 1024 + 128)]
    [InlineData("resnet34", 4096 + 256)]
    [InlineData("yolov3_resnet34", 4096 + 256)]
    [InlineData("resnet50", 0)]
    [InlineData("mobilenet_v1", 0)]
    public void ThePaddleLayoutAddsWhatPaddlesModelsHave(string name, int more)
    {
        long Count(ModelLayout layout)
        {
            using var m = ModelRegistry.Create(name, new ModelOptions { NumClasses = 10, InputSize = 224, Layout = layout });
            return m.state_dict().Values.Sum(t => t.numel());
        }
        Assert.Equal(more, Count(ModelLayout.Paddle) - Count(ModelLayout.Torchvision));
    }

    [Fact]
    public void MobileNetV3ClassifiersTakeTheirHiddenLayerAndSqueezeFromTheLayout()
    {
        using var tv = ModelRegistry.CreateClassifier("mobilenet_v3_large", new ModelOptions { NumClasses = 10, InputSize = 224, Layout = ModelLayout.Torchvision });
        using var pd = ModelRegistry.CreateClassifier("mobilenet_v3_large", new ModelOptions { NumClasses = 10, InputSize = 224 });
        var t = tv.state_dict();
        var p = pd.state_dict();
        Assert.False(t.ContainsKey("backbone.blocks.0.expand.conv.weights"));
        Assert.True(p.ContainsKey("backbone.blocks.0.expand.conv.weights"));
        Assert.Equal(new long[] { 24, 72, 1, 1 }, t["backbone.blocks.3.se_block.conv1.weights"].shape); // 72 / 4 = 18 → 24
        Assert.Equal(new long[] { 18, 72, 1, 1 }, p["backbone.blocks.3.se_block.conv1.weights"].shape);
        Assert.Equal(new long[] { 960, 160, 1, 1 }, t["backbone.conv_last.conv.weights"].shape);
        Assert.Equal(new long[] { 1280, 960 }, t["hidden.weights"].shape);
        Assert.True(t.ContainsKey("hidden.bias"));
        Assert.False(p.ContainsKey("hidden.bias"));
        Assert.Equal(new long[] { 10, 1280 }, p["fc.weights"].shape);
        using var small = ModelRegistry.CreateClassifier("mobilenet_v3_small", new ModelOptions { NumClasses = 3, InputSize = 64 });
        Assert.Equal(new long[] { 1024, 576 }, small.state_dict()["hidden.weights"].shape);
        using var x = rand(2, 3, 64, 64);
        using var y = small.call(x);
        Assert.Equal(new long[] { 2, 3 }, y.shape);

        // The squeeze width follows the unpruned width: pruning the expansion (96 → 64) leaves it at 24 unless overridden,
        // so a pruned checkpoint, which records only the convs pruning changed, rebuilds as it was.
        using var pruned = ModelRegistry.CreateClassifier("mobilenet_v3_small", new ModelOptions
        {
            NumClasses = 3, InputSize = 64, ChannelOverrides = new Dictionary<string, int> { ["backbone.blocks.3.expand.conv"] = 64 },
        });
        Assert.Equal(new long[] { 24, 64, 1, 1 }, pruned.state_dict()["backbone.blocks.3.se_block.conv1.weights"].shape);
    }

    [Fact]
    public void AnchorsPerScaleSetsOutputWidth()
    {
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v3_small",
            new ModelOptions { NumClasses = 2, Width = 0.25, InputSize = 64, AnchorsPerScale = 2 });
        Assert.Equal(2 * (5 + 2), model.get_parameter("yolo_output.0.conv.weights").shape[0]);
    }

    [Fact]
    public void NameSuggestionUsesEditDistance()
    {
        Assert.Equal(0, Slim.Common.Suggest.Distance("resnet", "resnet"));
        Assert.Equal(1, Slim.Common.Suggest.Distance("resnet18", "resnet8"));
        Assert.Equal(3, Slim.Common.Suggest.Distance("kitten", "sitting"));
        Assert.Equal("resnet34", Slim.Common.Suggest.Nearest("resnet35", ModelRegistry.Names, 1).FirstOrDefault());
    }
}
