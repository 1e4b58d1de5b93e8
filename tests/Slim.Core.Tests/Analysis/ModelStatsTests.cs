using Slim.Analysis;
using Slim.Models;
using Slim.Torch;
using Slim.Torch.Modules;
using Spectre.Console;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Analysis;

public class ModelStatsTests
{
    // MobileNetV1 blocks: (output channels, stride) after conv1 (32 channels, stride 2).
    private static readonly (int Out, int Stride)[] MobileNetV1Blocks =
    {
        (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
    };

    /// <summary>Conv MACs of MobileNetV1 at a square input, from the architecture table (independent of the tracer).</summary>
    private static long MobileNetV1ConvMacs(int size)
    {
        long hw = size / 2;
        long macs = hw * hw * 32 * 3 * 9;
        long c = 32;
        foreach (var (o, s) in MobileNetV1Blocks)
        {
            hw = (hw + s - 1) / s;
            macs += hw * hw * c * 9 + hw * hw * c * o;
            c = o;
        }
        return macs;
    }

    /// <summary>Head MACs of PaddleDetection's YOLOv3 over a backbone with 256/512/1024-channel maps, by hand.</summary>
    private static long YoloHeadMacs(int size, int classes)
    {
        long total = 0;
        int[] backbone = { 1024, 512, 256 };
        int[] widths = { 512, 256, 128 };
        int route = 0;
        for (int i = 0; i < 3; i++)
        {
            long hw = size / (32 >> i);
            long p = hw * hw;
            long w = widths[i];
            long cin = backbone[i] + route;
            total += p * (cin * w + w * 2 * w * 9 + 2 * w * w + w * 2 * w * 9 + 2 * w * w + w * 2 * w * 9);
            total += p * 2 * w * 3 * (5 + classes);
            if (i < 2)
            {
                total += p * w * (w / 2);
                route = (int)(w / 2);
            }
        }
        return total;
    }

    [Fact]
    public void HandCountedConvBNReLU()
    {
        using var unit = new ConvBN(3, 8, 3, 1, 1, ActivationKind.ReLU);
        var stats = ModelStats.Compute(unit, new long[] { 1, 3, 8, 8 });
        var layer = Assert.Single(stats.Layers);
        Assert.Equal("conv", layer.ModulePath);
        Assert.Equal("conv.weights", layer.WeightName);
        Assert.Equal(new long[] { 1, 8, 8, 8 }, layer.OutputShape);
        Assert.Equal(8L * 8 * 8 * 27, layer.Macs);
        Assert.False(layer.HasBias);
        Assert.Equal(8 * 27 + 16, stats.TrainableParameters);
        Assert.Equal(16, stats.StatisticsParameters);
        // 2·MACs + BN (2 per element) + ReLU (1 per element); no bias.
        Assert.Equal(2L * 13824 + 2 * 512 + 512, stats.Flops);
        Assert.Equal(13824 / ModelStats.GiB, stats.PaddleGFlops, 12);
        Assert.Equal((8 * 27 + 32) * 4.0 / (1024 * 1024), stats.SizeMiB, 12);
    }

    [Fact]
    public void LinearBiasAndOutputConvBiasAreCountedInTrueFlopsOnly()
    {
        using var model = ModelRegistry.CreateClassifier("mobilenet_v1", new ModelOptions { NumClasses = 7, Width = 0.25, InputSize = 32 });
        var stats = ModelStats.Compute(model, new long[] { 1, 3, 32, 32 });
        var fc = stats.Layers[^1];
        Assert.Equal("fc", fc.ModulePath);
        Assert.Equal("linear", fc.Kind);
        Assert.Equal("fc.weights", fc.WeightName);
        Assert.Equal(256L * 7, fc.Macs);
        Assert.True(fc.HasBias);
        Assert.Equal(256L * 7 + 7, fc.Parameters);
        Assert.Equal(28, stats.Layers.Count); // conv1, 13 × (dw, pw), fc
    }

    [Fact]
    public void MobileNetV1ImageNetFigures()
    {
        using var model = ModelRegistry.CreateClassifier("mobilenet_v1", new ModelOptions { NumClasses = 1000, InputSize = 224 });
        var stats = ModelStats.Compute(model, new long[] { 1, 3, 224, 224 });
        // 4.23 M parameters, the published figure (weights, fc bias, BN scale/offset).
        Assert.Equal(4_231_976, stats.TrainableParameters);
        Assert.Equal(4_209_088 + 1000, stats.LayerParameters);
        Assert.Equal(MobileNetV1ConvMacs(224) + 1024 * 1000, stats.Macs);
        Assert.InRange(stats.Macs / 1e6, 565, 573); // ≈ 569 M
        Assert.Equal(28, stats.Layers.Count);
    }

    [Fact]
    public void ResNet50ImageNetFigures()
    {
        using var model = ModelRegistry.CreateClassifier("resnet50", new ModelOptions { NumClasses = 1000, InputSize = 224 });
        var stats = ModelStats.Compute(model, new long[] { 1, 3, 224, 224 });
        Assert.Equal(25_557_032, stats.TrainableParameters); // ≈ 25.6 M, as torchvision's resnet50
        Assert.InRange(stats.Macs / 1e9, 4.05, 4.15);        // ≈ 4.1 G
    }

    [Fact]
    public void MobileNetV2AndResNet18_34ImageNetParameters()
    {
        foreach (var (name, expected) in new[] { ("mobilenet_v2", 3_504_872L), ("resnet18", 11_689_512L), ("resnet34", 21_797_672L) })
        {
            using var model = ModelRegistry.CreateClassifier(name, new ModelOptions { NumClasses = 1000, InputSize = 224 });
            long trainable = model.named_parameters().Sum(p => p.parameter.numel());
            Assert.True(expected == trainable, $"{name}: expected {expected} parameters, got {trainable}");
        }
    }

    [Theory]
    [InlineData(608)]
    [InlineData(416)]
    [InlineData(320)]
    public void YoloV3MobileNetV1MacsMatchTheArchitectureTable(int size)
    {
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v1", new ModelOptions { NumClasses = 80, InputSize = size });
        var stats = ModelStats.Compute(model, new long[] { 1, 3, size, size });
        Assert.Equal(MobileNetV1ConvMacs(size) + YoloHeadMacs(size, 80), stats.Macs);
        Assert.Equal(stats.Macs / ModelStats.GiB, stats.PaddleGFlops, 9);
        var outputs = stats.Layers.Where(l => l.WeightName.StartsWith("yolo_output.", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, outputs.Count);
        Assert.All(outputs, l => Assert.True(l.HasBias));
        Assert.Equal(27 + 18 + 2 + 3, stats.Layers.Count); // backbone, block convs, transitions, outputs
    }

    [Fact]
    public void StatsRestoreModesAndLeakNothing()
    {
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v3_small", new ModelOptions { NumClasses = 2, Width = 0.25, InputSize = 64 });
        model.train();
        model.get_submodule("backbone").eval();
        long before = Tensor.LiveCount;
        var stats = ModelStats.Compute(model, new long[] { 1, 3, 64, 64 });
        Assert.Equal(before, Tensor.LiveCount);
        Assert.True(model.training);
        Assert.False(model.get_submodule("backbone.conv1.bn").training);
        Assert.True(model.get_submodule("yolo_block.0.2.bn").training);
        // SE pools, multiplies, hard-sigmoid and residual adds make true FLOPs exceed 2·MACs.
        Assert.True(stats.Flops > 2 * stats.Macs);
        Assert.Contains(stats.Layers, l => l.ModulePath == "backbone.blocks.0.se_block.conv1" && l.HasBias);
    }

    [Fact]
    public void TableListsEveryLayerAndTheTotals()
    {
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v1", new ModelOptions { NumClasses = 3, Width = 0.25, InputSize = 64 });
        var stats = ModelStats.Compute(model, new long[] { 1, 3, 64, 64 });
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors,
        });
        console.Profile.Width = 200;
        console.Write(Slim.Pipeline.ScoreTableRendering.ToSpectre(stats.ToTable()));
        console.WriteLine(stats.Summary());
        var text = writer.ToString();
        Assert.Contains("yolo_block.2.tip.conv", text);
        Assert.Contains("backbone.conv6.pw.conv", text);
        Assert.Contains("total (conv + fc)", text);
        Assert.Contains("GFLOPs (PaddleSlim", text);
        Assert.Equal(stats.Layers.Count + 1, stats.ToTable().Rows.Count);
    }

    [Fact]
    public void BatchOtherThanOneIsRejected()
    {
        using var unit = new ConvBN(3, 8, 3);
        var ex = Assert.Throws<ArgumentException>(() => ModelStats.Compute(unit, new long[] { 2, 3, 8, 8 }));
        Assert.Contains("batch 1", ex.Message);
    }
}
