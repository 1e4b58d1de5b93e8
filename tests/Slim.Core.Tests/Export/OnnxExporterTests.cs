using Slim.Compression.Quantization;
using Slim.Export;
using Slim.Torch;
using Slim.Torch.Modules;
using Xunit.Abstractions;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Export;

public class OnnxExporterTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = ExportTestSupport.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Sequential Classifier(Generator g)
    {
        var bn1 = new BatchNorm2d(8);
        var bn2 = new BatchNorm2d(16);
        ExportTestSupport.Randomize(bn1, g);
        ExportTestSupport.Randomize(bn2, g);
        return new Sequential(
            ("conv1", nn.Conv2d(3, 8, 3, padding: 1)), ("bn1", bn1), ("relu1", nn.ReLU()), ("pool", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(8, 16, 3, stride: 2, padding: 1, bias: false)), ("bn2", bn2), ("relu2", nn.ReLU6()),
            ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("drop", nn.Dropout(0.2)), ("fc", nn.Linear(16, 5)));
    }

    [SkippableFact]
    public void ClassifierMatchesLibtorchForBatchOneAndThree()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(1);
        using var net = Classifier(g);
        var path = Path.Combine(_dir, "classifier.onnx");
        var options = new OnnxExportOptions
        {
            InputShape = new long[] { 3, 32, 32 },
            ModelName = "tiny-classifier",
            Mean = new[] { 0.485f, 0.456f, 0.406f },
            Std = new[] { 0.229f, 0.224f, 0.225f },
            ClassNames = new[] { "a", "b", "c", "d", "e" },
        };
        long live = Tensor.LiveCount;
        OnnxExporter.ExportToFile(net, path, options);
        Assert.Equal(live, Tensor.LiveCount);

        var model = OnnxExporter.Load(path);
        var ops = model.Graph.Node.Select(n => n.OpType).ToList();
        // Both batch norms are folded into their convolutions; the dropout disappears in eval mode.
        Assert.DoesNotContain("BatchNormalization", ops);
        Assert.Equal(2, ops.Count(o => o == "Conv"));
        Assert.Contains("Gemm", ops);
        Assert.Contains("GlobalAveragePool", ops);
        Assert.Contains("Clip", ops);
        var inits = model.Graph.Initializer.Select(i => i.Name).ToHashSet();
        Assert.Contains("conv1.weight", inits);
        Assert.Contains("conv1.bias", inits);
        Assert.Contains("conv2.weight", inits);
        Assert.Contains("bn2.bias", inits); // the bias-less conv2 takes its folded bias under the batch norm's name
        Assert.Contains("fc.weight", inits);
        Assert.Equal(14, model.OpsetImport.Single().Version);
        Assert.Equal(OnnxExporter.BatchDimension, model.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(OnnxExporter.BatchDimension, model.Graph.Output[0].Type.TensorType.Shape.Dim[0].DimParam);
        var meta = model.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("tiny-classifier", meta["model_name"]);
        Assert.Equal("images", meta["input_name"]);
        Assert.Equal("[-1,3,32,32]", meta["input_shape"]);
        Assert.Equal("[\"a\",\"b\",\"c\",\"d\",\"e\"]", meta["class_names"]);
        Assert.Equal("fp32", meta["precision"]);
        Assert.Contains("0.485", meta["mean"]);
        Assert.True(net.training, "the exporter restores the training mode it found");

        ExportTestSupport.AssertOnnxCheckerPasses(path, output);
        var ort = OrtRunner.Create();
        net.eval();
        using var _ = no_grad();
        foreach (var batch in new long[] { 1, 3 })
        {
            var x = randn(new[] { batch, 3, 32, 32 }, g);
            ExportTestSupport.AssertMatchesTorch(ort, path, "images", x, new[] { net.call(x) }, new[] { "output" }, 1e-4f);
        }
    }

    [SkippableFact]
    public void MixedBlockWithSeDepthwiseUpsampleAndConcatMatchesLibtorch()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(2);
        using var net = new MixedNet(g);
        var path = Path.Combine(_dir, "mixed.onnx");
        OnnxExporter.ExportToFile(net, path, new OnnxExportOptions { InputShape = new long[] { 3, 32, 32 } });

        var ops = OnnxExporter.Load(path).Graph.Node.Select(n => n.OpType).ToHashSet();
        foreach (var op in new[] { "Conv", "LeakyRelu", "HardSwish", "HardSigmoid", "GlobalAveragePool", "Mul", "Add", "Resize", "AveragePool", "Concat", "Sigmoid", "Sub", "Div" })
            Assert.Contains(op, ops);
        Assert.DoesNotContain("BatchNormalization", ops);

        ExportTestSupport.AssertOnnxCheckerPasses(path, output);
        var ort = OrtRunner.Create();
        net.eval();
        using var _ = no_grad();
        foreach (var batch in new long[] { 1, 3 })
        {
            var x = randn(new[] { batch, 3, 32, 32 }, g);
            ExportTestSupport.AssertMatchesTorch(ort, path, "images", x, new[] { net.call(x) }, new[] { "output" }, 1e-4f);
        }
    }

    [SkippableFact]
    public void TwoScaleDetectorWithReshapeAndPermuteKeepsBatchDynamic()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(3);
        using var net = new TwoScaleNet(g);
        var path = Path.Combine(_dir, "two_scale.onnx");
        var options = new OnnxExportOptions { InputShape = new long[] { 3, 64, 64 }, OutputNames = new[] { "p5", "p4" } };
        OnnxExporter.ExportToFile(net, path, options, x => net.Forward(x));

        var model = OnnxExporter.Load(path);
        Assert.Equal(new[] { "p5", "p4" }, model.Graph.Output.Select(o => o.Name));
        var inits = model.Graph.Initializer.Select(i => i.Name).ToHashSet();
        Assert.Contains("c1.conv.weights", inits);
        Assert.Contains("c1.bn.offset", inits); // folded bias named after the Paddle-style batch norm offset
        Assert.Contains("yolo_output_0.weights", inits);
        // Every reshape keeps the batch dynamic (0 = copy the input's size), none bakes in the trace batch of 2.
        var shapes = model.Graph.Node.Where(n => n.OpType == "Reshape").Select(n => n.Input[1]).ToList();
        Assert.NotEmpty(shapes);
        foreach (var s in shapes)
        {
            var init = model.Graph.Initializer.Single(i => i.Name == s);
            Assert.Equal(0L, BitConverter.ToInt64(init.RawData.Span[..8]));
        }

        ExportTestSupport.AssertOnnxCheckerPasses(path, output);
        var ort = OrtRunner.Create();
        net.eval();
        using var _ = no_grad();
        foreach (var batch in new long[] { 1, 3 })
        {
            var x = randn(new[] { batch, 3, 64, 64 }, g);
            ExportTestSupport.AssertMatchesTorch(ort, path, "images", x, net.Forward(x), new[] { "p5", "p4" }, 1e-4f);
        }
    }

    [SkippableFact]
    public void BatchNormWithTwoConsumersIsKeptAsBatchNormalization()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(4);
        var bn = new BatchNorm2d(4);
        ExportTestSupport.Randomize(bn, g);
        // The conv output feeds the batch norm and the residual add, so it cannot be folded.
        var conv = nn.Conv2d(4, 4, 3, padding: 1);
        using var net = new Residual(conv, bn);
        var path = Path.Combine(_dir, "bn.onnx");
        OnnxExporter.ExportToFile(net, path, new OnnxExportOptions { InputShape = new long[] { 4, 8, 8 } });
        Assert.Contains("BatchNormalization", OnnxExporter.Load(path).Graph.Node.Select(n => n.OpType));
        ExportTestSupport.AssertOnnxCheckerPasses(path, output);
        var ort = OrtRunner.Create();
        net.eval();
        using var _ = no_grad();
        var x = randn(new long[] { 2, 4, 8, 8 }, g);
        ExportTestSupport.AssertMatchesTorch(ort, path, "images", x, new[] { net.call(x) }, new[] { "output" }, 1e-4f);
    }

    private sealed class Residual : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d _conv;
        private readonly BatchNorm2d _bn;

        public Residual(Conv2d conv, BatchNorm2d bn) : base("Residual")
        {
            _conv = conv;
            _bn = bn;
            register_module("conv", conv);
            register_module("bn", bn);
        }

        public override Tensor forward(Tensor x)
        {
            var y = _conv.call(x);
            return _bn.call(y) + y;
        }
    }

    [SkippableFact]
    public void UnsupportedOperatorNamesOperatorAndModule()
    {
        using var scope = NewDisposeScope();
        using var net = new ErfNet();
        var ex = Assert.Throws<UnsupportedLayerException>(() => OnnxExporter.Export(net, new OnnxExportOptions { InputShape = new long[] { 3, 8, 8 } }));
        Assert.Equal("aten::erf", ex.Op);
        Assert.Equal("body.gelu_like", ex.ModulePath);
        Assert.Contains("aten::erf", ex.Message);
        Assert.Contains("body.gelu_like", ex.Message);
    }

    [SkippableFact]
    public void InvalidOptionsAreRejectedWithTheFieldName()
    {
        using var scope = NewDisposeScope();
        using var net = Classifier(new Generator(5));
        var ex = Assert.Throws<ArgumentException>(() => OnnxExporter.Export(net, new OnnxExportOptions { InputShape = new long[] { 3, 0, 32 } }));
        Assert.Contains("InputShape", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => OnnxExporter.Export(net, new OnnxExportOptions { InputShape = new long[] { 3, 32, 32 }, Mean = new[] { 0.5f } }));
        Assert.Contains("Mean", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => OnnxExporter.Export(net, new OnnxExportOptions
        {
            InputShape = new long[] { 3, 32, 32 },
            Quantization = new Dictionary<string, QuantizedLayer> { ["conv9"] = Record("conv9", new float[8]) },
        }));
        Assert.Contains("weight_scales[0]", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => OnnxExporter.Export(net, new OnnxExportOptions
        {
            InputShape = new long[] { 3, 32, 32 },
            Quantization = new Dictionary<string, QuantizedLayer> { ["conv9"] = Record("conv9", Enumerable.Repeat(0.1f, 8).ToArray()) },
        }));
        Assert.Contains("'conv9'", ex.Message);
        Assert.Contains("conv1", ex.Message); // the layers that do exist are listed
    }

    private static QuantizedLayer Record(string path, float[] scales) => new()
    {
        ModulePath = path, LayerType = "Conv2d", WeightParameter = path + ".weight", WeightShape = new long[] { scales.Length, 8, 3, 3 },
        WeightScales = scales, InputScale = 0.1f, InputType = QuantDType.UInt8,
    };
}
