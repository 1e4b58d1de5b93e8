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
            "mobilenet_v1", "mobilenet_v2", "resnet18", "resnet34", "resnet50",
        }, ModelRegistry.Names);
        Assert.Equal(ModelTask.Detection, ModelRegistry.TaskOf("yolov3_resnet34"));
        Assert.Equal(ModelTask.Classification, ModelRegistry.TaskOf("resnet50"));
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
            ChannelOverrides = new Dictionary<string, int> { ["a.conv"] = 3, ["b.c.conv"] = 17 },
        };
        var (name, back) = ModelOptions.FromMetadata(options.ToMetadata("yolov3_resnet34"));
        Assert.Equal("yolov3_resnet34", name);
        Assert.Equal(options, back);
        Assert.NotEqual(options, back with { Width = 0.5 });
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
