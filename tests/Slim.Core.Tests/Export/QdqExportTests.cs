using Slim.Compression.Quantization;
using Slim.Export;
using Slim.Pipeline;
using Slim.Torch;
using Slim.Torch.Modules;
using Xunit.Abstractions;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Export;

public class QdqExportTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = ExportTestSupport.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Sequential TinyNet() => new(
        ("conv1", nn.Conv2d(3, 16, 3, padding: 1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(16, 32, 3, stride: 2, padding: 1)), ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(32, 64, 3, padding: 1)), ("relu3", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(64, 10)));

    /// <summary>
    /// Calibrates the way a post-training quantizer would: symmetric per-channel weight scales (absmax / 127)
    /// and per-tensor input ranges over a calibration batch; the first layer's input (signed data) as int8,
    /// the others (after ReLU) as uint8.
    /// </summary>
    private static Dictionary<string, QuantizedLayer> Calibrate(Sequential net, Tensor calibration)
    {
        var spec = new Dictionary<string, QuantizedLayer>();
        var h = calibration;
        for (int i = 0; i < net.Count; i++)
        {
            var layer = net[i];
            if (layer is Conv2d or Linear)
            {
                var w = layer is Conv2d c ? c.weight : ((Linear)layer).weight;
                // 7-bit weights (Slim's default): exact on CPUs whose int8 kernels add uint8×int8 pairs in 16 bits.
                var scales = w.abs().flatten(1).max(1).values.ToFloatArray().Select(v => v / 63f).ToArray();
                float lo = Math.Min(0, h.min().item<float>()), hi = Math.Max(0, h.max().item<float>());
                bool signed = lo < 0;
                float scale = (hi - lo) / 255f;
                int zp = (int)Math.Round((signed ? -128 : 0) - lo / scale);
                spec[NameOf(net, i)] = new QuantizedLayer
                {
                    ModulePath = NameOf(net, i), LayerType = layer is Conv2d ? "Conv2d" : "Linear", WeightParameter = NameOf(net, i) + ".weight",
                    WeightShape = w.shape, WeightScales = scales, InputScale = scale, InputZeroPoint = zp, InputType = signed ? QuantDType.Int8 : QuantDType.UInt8,
                    WeightQuantMin = -63, WeightQuantMax = 63,
                };
            }
            h = layer.call(h);
        }
        return spec;
    }

    private static string NameOf(Sequential net, int i) => net.named_children().ElementAt(i).Item1;

    /// <summary>The same network computed in libtorch with fake quantization at exactly the QDQ points.</summary>
    private static Tensor FakeQuantizedForward(Sequential net, Dictionary<string, QuantizedLayer> spec, Tensor x)
    {
        var h = x;
        for (int i = 0; i < net.Count; i++)
        {
            var layer = net[i];
            if (!spec.TryGetValue(NameOf(net, i), out var q))
            {
                h = layer.call(h);
                continue;
            }
            var hq = F.fake_quantize_per_tensor_affine(h, q.InputScale, q.InputZeroPoint, q.InputType == QuantDType.UInt8 ? 0 : -128, q.InputType == QuantDType.UInt8 ? 255 : 127);
            var scales = tensor(q.WeightScales, q.WeightScales.Length);
            var zeroPoints = torch.zeros(new long[] { q.WeightScales.Length }, ScalarType.Int32);
            if (layer is Conv2d c)
            {
                var wq = F.fake_quantize_per_channel_affine(c.weight, scales, zeroPoints, 0, q.WeightQuantMin, q.WeightQuantMax);
                h = F.conv2d(hq, wq, c.bias, new[] { c.stride, c.stride }, new[] { c.padding, c.padding }, new[] { c.dilation, c.dilation }, c.groups);
            }
            else
            {
                var l = (Linear)layer;
                h = F.linear(hq, F.fake_quantize_per_channel_affine(l.weight, scales, zeroPoints, 0, q.WeightQuantMin, q.WeightQuantMax), l.bias);
            }
        }
        return h;
    }

    [SkippableFact]
    public void QdqExportMatchesFakeQuantizedLibtorchAndFusesToQLinearConv()
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        var g = new Generator(11);
        using var net = TinyNet();
        net.eval();
        using var grad = no_grad();
        var spec = Calibrate(net, randn(new long[] { 8, 3, 24, 24 }, g));

        var fp32Path = Path.Combine(_dir, "fp32.onnx");
        var int8Path = Path.Combine(_dir, "int8.onnx");
        var baseOptions = new OnnxExportOptions { InputShape = new long[] { 3, 24, 24 } };
        long fp32Size = OnnxExporter.ExportToFile(net, fp32Path, baseOptions);
        long int8Size = OnnxExporter.ExportToFile(net, int8Path, baseOptions with { Quantization = spec });
        output.WriteLine($"FP32 {fp32Size} bytes, INT8 {int8Size} bytes ({100.0 * int8Size / fp32Size:F1}%)");
        Assert.True(int8Size < 0.35 * fp32Size, $"INT8 file is {int8Size} bytes, not under 35% of the FP32 file's {fp32Size}");

        var model = OnnxExporter.Load(int8Path);
        Assert.Equal("int8-qdq", model.MetadataProps.Single(p => p.Key == "precision").Value);
        var weight = model.Graph.Initializer.Single(i => i.Name == "conv2.weight");
        Assert.Equal((int)Onnx.TensorProto.Types.DataType.Int8, weight.DataType);
        Assert.Equal((int)Onnx.TensorProto.Types.DataType.Int32, model.Graph.Initializer.Single(i => i.Name == "conv2.bias").DataType);
        Assert.Equal(4, model.Graph.Node.Count(n => n.OpType == "QuantizeLinear"));
        ExportTestSupport.AssertOnnxCheckerPasses(int8Path, output);

        var ort = OrtRunner.Create();
        var x = randn(new long[] { 3, 3, 24, 24 }, g);
        var optimized = Path.Combine(_dir, "int8.optimized.onnx");
        var got = ort.Run(int8Path, new[] { new Dictionary<string, OrtTensor> { ["images"] = OrtTensor.FromTensor(x) } }, 1, optimized)[0]["output"];
        var reference = FakeQuantizedForward(net, spec, x).ToFloatArray();
        var fp32 = net.call(x).ToFloatArray();
        var values = got.ToFloatArray();

        // One step of an 8-bit quantizer over the output's range.
        float step = (reference.Max() - reference.Min()) / 255f;
        int within = values.Zip(reference).Count(p => Math.Abs(p.First - p.Second) <= step);
        float worst = ExportTestSupport.MaxAbsDiff(values, reference);
        output.WriteLine($"step {step}, within one step {within}/{values.Length}, worst {worst}, FP32 vs fake-quant {ExportTestSupport.MaxAbsDiff(fp32, reference)}");
        Assert.True(within >= 0.98 * values.Length, $"only {within} of {values.Length} outputs within one quantization step ({step}) of the fake-quantized reference");
        Assert.True(worst <= 3 * step, $"worst difference {worst} exceeds three quantization steps ({step})");
        // The file really computes in INT8: it is much closer to the fake-quantized network than the FP32 one is.
        double meanToReference = values.Zip(reference).Average(p => Math.Abs(p.First - p.Second));
        double fp32ToReference = fp32.Zip(reference).Average(p => Math.Abs(p.First - p.Second));
        Assert.True(meanToReference < 0.25 * fp32ToReference, $"mean |ORT - fake-quant| {meanToReference} is not well below mean |FP32 - fake-quant| {fp32ToReference}");

        // ONNX Runtime recognised the QDQ pattern: the convolutions whose output is requantized run as QLinearConv.
        var fused = OnnxExporter.Load(optimized).Graph.Node.Select(n => n.OpType).ToList();
        output.WriteLine("optimized graph: " + string.Join(", ", fused));
        Assert.True(fused.Count(o => o == "QLinearConv") >= 2, "expected conv1 and conv2 fused into QLinearConv: " + string.Join(", ", fused));
    }

    /// <summary>
    /// The seam of issue 11: post-training calibration produces the <see cref="QuantizedLayer"/> records,
    /// quant.json holds them whole, and the INT8 export of the float twin, reading the records back from the
    /// file, computes what the fake-quantized model computes — inputs beyond the calibrated range included, which
    /// both clamp to the type's range (int8 [-128, 127], uint8 [0, 255]).
    /// </summary>
    [SkippableFact]
    public void Int8ExportReadsTheCalibrationRecordsFromQuantJsonAndMatchesTheFakeQuantizedModel()
    {
        using var scope = NewDisposeScope();
        using var grad = no_grad();
        var g = new Generator(21);
        Sequential Net()
        {
            manual_seed(21);
            return new Sequential(("conv1", nn.Conv2d(3, 8, 3, padding: 1)), ("relu1", nn.ReLU()), ("conv2", nn.Conv2d(8, 4, 1)));
        }
        using var net = Net();
        using var twin = Net();
        var options = new QuantizationOptions { Algorithm = CalibrationAlgo.AbsMax };
        IEnumerable<Tensor> Forward(Tensor t) => new[] { net.call(t) };
        var (plan, _) = PostTrainingQuantizer.Run(net, options, Forward, new[] { randn(new long[] { 4, 3, 12, 12 }, g) });
        // No help from the test: the fake-quantized model puts its biases on the file's int32 grid itself
        // (QuantLayer's eval path), so the reference below is the production path.
        var result = QuantizationResult.From(net, QuantMode.Post, CalibrationAlgo.AbsMax);
        Assert.Equal(new[] { QuantDType.Int8, QuantDType.UInt8 }, result.Layers.Select(l => l.InputType));
        foreach (var layer in result.Layers)
        {
            var folded = result.Folded(layer.ModulePath);
            var conv = (Conv2d)twin.get_submodule(layer.ModulePath);
            conv.weight.copy_(tensor(folded.Weight, folded.Shape));
            conv.bias!.copy_(tensor(folded.Bias!, folded.Shape[0]));
        }

        var quantJson = Path.Combine(_dir, "quant.json");
        QuantFile.Write(quantJson, result, plan, options, "twin.ckpt");
        var records = QuantFile.Read(quantJson).Layers;
        Assert.Equal(result.Layers, records);
        var path = Path.Combine(_dir, "calibrated_int8.onnx");
        OnnxExporter.ExportToFile(twin, path, new OnnxExportOptions
        {
            InputShape = new long[] { 3, 12, 12 },
            Quantization = records.ToDictionary(l => l.ModulePath),
        });
        // The int8 weights in the file are the record's codes of the twin's weight.
        var w1 = OnnxExporter.Load(path).Graph.Initializer.Single(i => i.Name == "conv1.weight");
        Assert.Equal(records[0].QuantizeWeight(result.Folded("conv1").Weight).Select(v => (byte)v), w1.RawData.ToByteArray());

        var ort = OrtRunner.Create();
        // Three times the calibration spread: many inputs lie beyond the thresholds and are clamped.
        var x = randn(new long[] { 2, 3, 12, 12 }, g) * 3;
        net.eval(); // as every evaluation runs it
        var want = net.call(x).ToFloatArray();
        var have = ort.Run(path, new Dictionary<string, OrtTensor> { ["images"] = OrtTensor.FromTensor(x) })["output"].ToFloatArray();
        // Same integer arithmetic on both sides; only float accumulation order may move a conv2 input across a
        // rounding boundary (one code), so nearly every element agrees to float precision.
        float magnitude = Math.Max(1, want.Max(Math.Abs));
        int exact = have.Zip(want).Count(p => Math.Abs(p.First - p.Second) <= 1e-5f * magnitude);
        output.WriteLine($"{exact}/{want.Length} outputs equal to 1e-5; worst {ExportTestSupport.MaxAbsDiff(have, want)}");
        Assert.True(exact >= 0.99 * want.Length, $"only {exact} of {want.Length} INT8 outputs equal the fake-quantized model's");
    }

    [SkippableFact]
    public void FakeQuantizeOpsInTheForwardBecomeQdqPairs()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(12);
        using var net = new FakeQuantNet();
        var path = Path.Combine(_dir, "fq.onnx");
        long live = Tensor.LiveCount;
        OnnxExporter.ExportToFile(net, path, new OnnxExportOptions { InputShape = new long[] { 3, 8, 8 } });
        Assert.Equal(live, Tensor.LiveCount); // the trace, folded constants and temporaries are all released
        var model = OnnxExporter.Load(path);
        Assert.Equal(1, model.Graph.Node.Count(n => n.OpType == "QuantizeLinear"));
        Assert.Equal(2, model.Graph.Node.Count(n => n.OpType == "DequantizeLinear"));
        Assert.Equal((int)Onnx.TensorProto.Types.DataType.Int8, model.Graph.Initializer.Single(i => i.Name == "conv.weight").DataType);
        ExportTestSupport.AssertOnnxCheckerPasses(path, output);
        var ort = OrtRunner.Create();
        net.eval();
        using var _ = no_grad();
        var x = randn(new long[] { 2, 3, 8, 8 }, g);
        // Same arithmetic in both (quantize, dequantize, float conv), so agreement is at float precision.
        ExportTestSupport.AssertMatchesTorch(ort, path, "images", x, new[] { net.call(x) }, new[] { "output" }, 1e-4f);
    }

    /// <summary>A layer written the way QAT wraps one: fake-quantized input and per-channel fake-quantized weight.</summary>
    private sealed class FakeQuantNet : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d _conv = new(3, 4, 3, padding: 1);

        public FakeQuantNet() : base("FakeQuantNet") => register_module("conv", _conv);

        public override Tensor forward(Tensor x)
        {
            var xq = F.fake_quantize_per_tensor_affine(x, 0.05, 3, -128, 127);
            var scales = tensor(new[] { 0.01f, 0.02f, 0.015f, 0.012f }, 4);
            var wq = F.fake_quantize_per_channel_affine(_conv.weight, scales, zeros(new long[] { 4 }, ScalarType.Int32), 0, -128, 127);
            return F.relu(F.conv2d(xq, wq, _conv.bias, null, new long[] { 1, 1 }));
        }
    }
}
