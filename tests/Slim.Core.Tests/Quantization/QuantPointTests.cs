using Slim.Compression.Quantization;
using Slim.Core.Tests.Export;
using Slim.Export;
using Slim.Torch;
using Slim.Torch.Modules;
using Xunit.Abstractions;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Quantization;

/// <summary>
/// A YOLO-like route: f = stem(x) (conv-BN-ReLU); d = down(f) (conv-BN-LeakyReLU, stride 2); the concat of
/// upsample(d) and f; head (conv-BN-LeakyReLU). f is read by a quantized conv and by the concat, d only through
/// the upsample.
/// </summary>
internal sealed class RouteNet : NamedBlock
{
    public RouteNet() : base("RouteNet")
    {
        register_module("stem", nn.Sequential(nn.Conv2d(3, 8, 3, padding: 1, bias: false), TestNets.Bn(8), nn.ReLU()));
        register_module("down", nn.Sequential(nn.Conv2d(8, 8, 3, stride: 2, padding: 1, bias: false), TestNets.Bn(8), nn.LeakyReLU(0.1)));
        register_module("up", new Upsample(2, "nearest"));
        register_module("concat", new Concat(1));
        register_module("head", nn.Sequential(nn.Conv2d(16, 4, 1, bias: false), TestNets.Bn(4), nn.LeakyReLU(0.1)));
    }

    public override Tensor forward(Tensor x)
    {
        var f = Run("stem", x);
        var u = Run("up", Run("down", f));
        var c = ((nn.Module<Tensor[], Tensor>)get_submodule("concat")).call(new[] { u, f });
        return Run("head", c);
    }

    public static RouteNet Create(long seed = 8)
    {
        manual_seed(seed);
        return new RouteNet();
    }
}

/// <summary>A ResNet-like block: f = stem(x); y = b(a(f)) (conv-BN-ReLU, conv-BN); relu(f + y) through an Add module; head conv-BN-ReLU.</summary>
internal sealed class ResidualNet : NamedBlock
{
    public ResidualNet() : base("ResidualNet")
    {
        register_module("stem", nn.Sequential(nn.Conv2d(3, 8, 3, padding: 1, bias: false), TestNets.Bn(8), nn.ReLU()));
        register_module("a", nn.Sequential(nn.Conv2d(8, 8, 3, padding: 1, bias: false), TestNets.Bn(8), nn.ReLU()));
        register_module("b", nn.Sequential(nn.Conv2d(8, 8, 1, bias: false), TestNets.Bn(8)));
        register_module("add", new Add());
        register_module("act", nn.ReLU());
        register_module("head", nn.Sequential(nn.Conv2d(8, 4, 1, bias: false), TestNets.Bn(4), nn.ReLU()));
    }

    public override Tensor forward(Tensor x)
    {
        var f = Run("stem", x);
        var y = Run("b", Run("a", f));
        var s = ((nn.Module<Tensor[], Tensor>)get_submodule("add")).call(new[] { f, y });
        return Run("head", Run("act", s));
    }

    public static ResidualNet Create(long seed = 12)
    {
        manual_seed(seed);
        return new ResidualNet();
    }
}

public class QuantPointTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = ExportTestSupport.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<Tensor> Batches(int count, long seed)
    {
        var g = new Generator(seed);
        return Enumerable.Range(0, count).Select(_ => randn(new long[] { 3, 3, 12, 12 }, g)).ToList();
    }

    [Fact]
    public void PlanPutsPointsWhereOnnxRuntimeNeedsThem()
    {
        using var net = RouteNet.Create();
        using var scope = NewDisposeScope();
        var plan = LayerSelector.Select(net, new QuantizationOptions(), TestNets.Forward(net), randn(2, 3, 12, 12));
        var points = plan.Points.ToDictionary(p => p.Path);
        // The stem's ReLU is read by a quantized conv and a quantized concat input: it folds into their QuantizeLinear.
        Assert.False(points.ContainsKey("stem.1"));
        Assert.Equal(QuantPointKind.ConvOutput, points["down.1"].Kind);
        Assert.Contains("leaky_relu", points["down.1"].Reason);
        Assert.Equal(QuantPointKind.ConvOutput, points["head.1"].Kind);
        Assert.Equal(QuantPointKind.MergeInputs, points["concat"].Kind);
        Assert.Equal(2, points["concat"].Inputs);
        Assert.Equal(3, points.Count);

        // Keeping the head float leaves the concat to a float reader: no concat point and no head point; the stem's
        // ReLU now has a float reader, so the stem's conv gets a point of its own (int8 conv, float ReLU after it).
        var floatHead = LayerSelector.Select(net, new QuantizationOptions { NotQuant = new[] { "head" } }, TestNets.Forward(net), randn(2, 3, 12, 12));
        Assert.Equal(new[] { "stem.1", "down.1" }, floatHead.Points.Select(p => p.Path));
    }

    /// <summary>
    /// Every point is calibrated by every algorithm on the tensor it sits on: its threshold is the one the
    /// algorithm picks from statistics of that tensor gathered independently from the float model, and a point
    /// on a tensor that a quantized layer also reads gets that layer's threshold (so the export shares one pair).
    /// </summary>
    [Theory]
    [InlineData(CalibrationAlgo.AbsMax)]
    [InlineData(CalibrationAlgo.Avg)]
    [InlineData(CalibrationAlgo.Hist)]
    [InlineData(CalibrationAlgo.Kl)]
    [InlineData(CalibrationAlgo.Mse)]
    public void EveryCalibrationAlgorithmSetsThePointsFromTheirOwnTensor(CalibrationAlgo algorithm)
    {
        using var scope = NewDisposeScope();
        using var grad = no_grad();
        var batches = Batches(3, 4);
        // Reference statistics: the float model's tensors, captured with hooks on the modules that make them.
        using var reference = RouteNet.Create();
        reference.eval();
        bool histogram = algorithm is CalibrationAlgo.Hist or CalibrationAlgo.Kl or CalibrationAlgo.Mse;
        var stats = new[] { "stem", "down.1", "up" }.ToDictionary(p => p, _ => new ActivationStatistics(histogram));
        var hooks = stats.Keys.Select(p => reference.get_submodule(p).register_forward_hook((m, i, o) =>
        {
            stats[p].Add((Tensor)o);
            return null;
        })).ToList();
        foreach (var b in batches) reference.call(b);
        foreach (var h in hooks) h.Dispose();

        using var net = RouteNet.Create();
        PostTrainingQuantizer.Run(net, new QuantizationOptions { Algorithm = algorithm }, TestNets.Forward(net), batches);
        var result = QuantizationResult.ToFakeQuant(net, QuantMode.Post, algorithm);
        var points = result.Activations.ToDictionary(a => a.Path);
        Assert.Equal(new[] { "concat.input0", "concat.input1", "down.1", "head.1" }, points.Keys.Order(StringComparer.Ordinal));

        void Expect(string point, string tensor)
        {
            var s = stats[tensor];
            float want = (float)FakeQuant.ScaleOf(s.Threshold(algorithm), s.Unsigned);
            Assert.True(Math.Abs(points[point].Scale - want) <= 1e-6f * want, $"{algorithm}: {point} scale {points[point].Scale}, the statistics of {tensor} give {want}");
            Assert.Equal(Int8Grid.TypeOf(s.Unsigned), points[point].Type);
        }
        Expect("down.1", "down.1");          // the conv output, before the LeakyReLU
        Expect("concat.input0", "up");        // the upsampled route
        Expect("concat.input1", "stem");      // the ReLU output, never negative: uint8
        Assert.Equal(QuantDType.UInt8, points["concat.input1"].Type);
        Assert.Equal(result.Find("down.0")!.InputScale, points["concat.input1"].Scale);
    }

    [Fact]
    public void AwareTrainingObservesThePointsLikeTheLayers()
    {
        using var scope = NewDisposeScope();
        using var net = RouteNet.Create();
        var batches = Batches(4, 9);
        AwareQuantizer.Prepare(net, new QuantizationOptions(), TestNets.Forward(net), batches[0]);
        net.train();
        foreach (var b in batches) net.call(b);
        var concat = Assert.IsType<QuantMerge>(net.get_submodule("concat"));
        Assert.All(concat.Inputs, p => Assert.True(p.HasInputScale));
        var downOut = Assert.IsType<QuantPoint>(net.get_submodule("down.1"));
        Assert.True(downOut.HasInputScale && !downOut.InputUnsigned);
        // The same tensor, the same moving average: the concat's point and the conv reading f agree exactly.
        Assert.Equal(((QuantConv2d)net.get_submodule("down.0")).InputThreshold, concat.Inputs[1].InputThreshold);
        // Observers stop with ToFakeQuant: more forwards move nothing.
        var result = QuantizationResult.ToFakeQuant(net);
        double before = concat.Inputs[0].InputThreshold;
        using (no_grad()) net.call(batches[0] * 10);
        Assert.Equal(before, concat.Inputs[0].InputThreshold);
        Assert.Equal(4, result.Activations.Count);
    }

    /// <summary>
    /// The INT8 file of the route computes what the fake-quantized model computes, and ONNX Runtime runs all of it
    /// in int8: three QLinearConv, QLinearLeakyRelu for the route's LeakyReLU, the upsample on int8 and a
    /// QLinearConcat; only the head's LeakyReLU, whose output is the model's, stays float. The stem's output, read by
    /// the conv and the concat, is quantized once.
    /// </summary>
    [Fact]
    public void Int8FileOfTheRouteRunsInInt8AndMatchesTheFakeQuantizedModel()
    {
        using var scope = NewDisposeScope();
        using var grad = no_grad();
        using var net = RouteNet.Create();
        var batches = Batches(2, 5);
        PostTrainingQuantizer.Run(net, new QuantizationOptions { Algorithm = CalibrationAlgo.AbsMax }, TestNets.Forward(net), batches);
        var result = QuantizationResult.ToFakeQuant(net, QuantMode.Post, CalibrationAlgo.AbsMax);
        using var twin = Twin(RouteNet.Create(), result);
        var path = Export(twin, result, "route_int8.onnx");
        var graph = OnnxExporter.Load(path).Graph;
        var stemOutput = graph.Node.Single(n => n.OpType == "Relu" && n.Name.StartsWith("stem.", StringComparison.Ordinal)).Output[0];
        Assert.Single(graph.Node, n => n.OpType == "QuantizeLinear" && n.Input[0] == stemOutput);

        var deployment = Int8Deployability.Analyze(path, _dir);
        output.WriteLine(deployment.Summary());
        Assert.Equal(new[] { "QLinearConv", "QLinearConv", "QLinearConv" }, deployment.Layers.Select(l => l.RunsAs));
        Assert.Equal(1, deployment.Operators["QLinearConcat"]);
        Assert.Equal(1, deployment.Operators["QLinearLeakyRelu"]);
        Assert.Equal("LeakyRelu", Assert.Single(deployment.FloatOperators).Split(' ')[0]);
        Assert.Empty(Directory.GetFiles(_dir, "*.ort-optimized.*"));

        var want = AssertWithinOneStep(net, path, result, 6);
        var x = randn(new long[] { 4, 3, 12, 12 }, new Generator(6));
        float step = result.Activations.Single(a => a.Path == "head.1").Scale;
        float floatGap = TestNets.Eval(RouteNetFloat(), x).Zip(want).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(floatGap > 2 * step, $"the fake-quantized model is only {floatGap} from the float one: the check above would not tell int8 from float");
    }

    /// <summary>The float twin: the fresh net with each conv's folded weight and its BN as identity plus the folded bias.</summary>
    private static T Twin<T>(T twin, QuantizationResult result) where T : nn.Module
    {
        twin.eval();
        using var _ = no_grad();
        foreach (var layer in result.Layers)
        {
            var folded = result.Folded(layer.ModulePath);
            ((Conv2d)twin.get_submodule(layer.ModulePath)).weight.copy_(tensor(folded.Weight, folded.Shape));
            var bn = (BatchNorm2d)twin.get_submodule(layer.FoldedBatchNorm!);
            bn.weight.fill_(1);
            bn.bias.copy_(tensor(folded.Bias!, folded.Shape[0]));
            bn.running_mean.zero_();
            bn.running_var.fill_(1 - bn.eps);
        }
        return twin;
    }

    private string Export(nn.Module twin, QuantizationResult result, string name)
    {
        var path = Path.Combine(_dir, name);
        OnnxExporter.ExportToFile(twin, path, new OnnxExportOptions
        {
            InputShape = new long[] { 3, 12, 12 },
            Quantization = result.Layers.ToDictionary(l => l.ModulePath),
            ActivationQuantization = result.Activations.ToDictionary(a => a.Path),
        });
        return path;
    }

    /// <summary>
    /// A residual add gets points on both inputs: the shortcut shares the stem's QuantizeLinear with the conv that
    /// reads it, the branch's last conv (no activation) needs no point of its own, and ONNX Runtime runs the add
    /// as QLinearAdd with the ReLU after it folded; the file computes what the fake-quantized model computes.
    /// </summary>
    [Fact]
    public void ResidualAddRunsAsQLinearAddAndMatchesTheFakeQuantizedModel()
    {
        using var scope = NewDisposeScope();
        using var grad = no_grad();
        using var net = ResidualNet.Create();
        var plan = LayerSelector.Select(net, new QuantizationOptions(), TestNets.Forward(net), randn(2, 3, 12, 12));
        var points = plan.Points.ToDictionary(p => p.Path);
        Assert.Equal(QuantPointKind.MergeInputs, points["add"].Kind);
        Assert.Contains("QLinearAdd", points["add"].Reason);
        Assert.False(points.ContainsKey("b.1"));   // read only by the add's quantized input
        Assert.False(points.ContainsKey("stem.2")); // (a ReLU is no BN slot)

        PostTrainingQuantizer.Run(net, new QuantizationOptions { Algorithm = CalibrationAlgo.AbsMax }, TestNets.Forward(net), Batches(2, 13));
        var result = QuantizationResult.ToFakeQuant(net, QuantMode.Post, CalibrationAlgo.AbsMax);
        Assert.IsType<QuantMerge>(net.get_submodule("add"));
        Assert.Equal(result.Find("a.0")!.InputScale, result.Activations.Single(a => a.Path == "add.input0").Scale);
        using var twin = Twin(ResidualNet.Create(), result);
        var path = Export(twin, result, "residual_int8.onnx");
        var deployment = Int8Deployability.Analyze(path, _dir);
        output.WriteLine(deployment.Summary());
        Assert.All(deployment.Layers, l => Assert.Equal("QLinearConv", l.RunsAs));
        Assert.Equal(1, deployment.Operators["QLinearAdd"]);
        Assert.DoesNotContain(deployment.FloatOperators, o => o.StartsWith("Add", StringComparison.Ordinal));

        AssertWithinOneStep(net, path, result, 14);
    }

    /// <summary>
    /// The INT8 file against the fake-quantized net on random images: at least 99 % of the outputs within one step
    /// of the head's output point (the float twin's biases are not on the int32 grid, so one step is the tolerance).
    /// </summary>
    private float[] AssertWithinOneStep(nn.Module<Tensor, Tensor> net, string path, QuantizationResult result, long seed)
    {
        var x = randn(new long[] { 4, 3, 12, 12 }, new Generator(seed));
        var want = net.call(x).ToFloatArray();
        var have = OrtRunner.Create().Run(path, new Dictionary<string, OrtTensor> { ["images"] = OrtTensor.FromTensor(x) })["output"].ToFloatArray();
        float step = result.Activations.Single(a => a.Path == "head.1").Scale;
        int within = have.Zip(want).Count(p => Math.Abs(p.First - p.Second) <= step * 1.01f);
        output.WriteLine($"{within}/{want.Length} within one output step ({step}); worst {ExportTestSupport.MaxAbsDiff(have, want)}");
        Assert.True(within >= 0.99 * want.Length, $"only {within} of {want.Length} INT8 outputs within one step of the fake-quantized model");
        return want;
    }

    private static RouteNet RouteNetFloat()
    {
        var net = RouteNet.Create();
        net.eval();
        return net;
    }

    /// <summary>A quantized conv whose output nothing quantizes (an SE conv with bias and no BN before a HardSigmoid) is named as a float fallback, with why.</summary>
    [Fact]
    public void DeployabilityNamesAQuantizedLayerThatRunsInFloatAndWhy()
    {
        using var scope = NewDisposeScope();
        using var grad = no_grad();
        using var net = TestNets.Detector(seed: 4);
        PostTrainingQuantizer.Run(net, new QuantizationOptions { Algorithm = CalibrationAlgo.AbsMax }, TestNets.Forward(net), new[] { randn(2, 3, 8, 8) });
        var result = QuantizationResult.ToFakeQuant(net, QuantMode.Post, CalibrationAlgo.AbsMax);
        using var twin = TestNets.Detector(seed: 4);
        twin.eval();
        foreach (var layer in result.Layers)
        {
            var folded = result.Folded(layer.ModulePath);
            var conv = (Conv2d)twin.get_submodule(layer.ModulePath);
            conv.weight.copy_(tensor(folded.Weight, folded.Shape));
            if (layer.FoldedBatchNorm is { } bnPath)
            {
                var bn = (BatchNorm2d)twin.get_submodule(bnPath);
                bn.weight.fill_(1);
                bn.bias.copy_(tensor(folded.Bias!, folded.Shape[0]));
                bn.running_mean.zero_();
                bn.running_var.fill_(1 - bn.eps);
            }
            else conv.bias?.copy_(tensor(folded.Bias!, folded.Shape[0]));
        }
        var path = Path.Combine(_dir, "detector_int8.onnx");
        OnnxExporter.ExportToFile(twin, path, new OnnxExportOptions
        {
            InputShape = new long[] { 3, 8, 8 },
            Quantization = result.Layers.ToDictionary(l => l.ModulePath),
            ActivationQuantization = result.Activations.ToDictionary(a => a.Path),
        });
        var deployment = Int8Deployability.Analyze(path, _dir);
        output.WriteLine(deployment.Summary());
        foreach (var l in deployment.Layers) output.WriteLine($"{l.ModulePath}: {l.RunsAs} {l.Reason}");
        var se2 = deployment.Layers.Single(l => l.ModulePath == "block.se_block.conv2");
        Assert.False(se2.Int8);
        Assert.Contains("HardSigmoid", se2.Reason);
        Assert.Contains("not to a QuantizeLinear", se2.Reason);
        // The stem (LeakyReLU) and the depthwise conv (HardSwish) have points on their outputs: int8.
        Assert.True(deployment.Layers.Single(l => l.ModulePath == "stem.0").Int8);
        Assert.True(deployment.Layers.Single(l => l.ModulePath == "dw.0").Int8);
        Assert.StartsWith($"{deployment.Layers.Count - deployment.FloatFallbacks.Count()}/{deployment.Layers.Count} quantized layers in int8", deployment.Summary());
        Assert.Contains(deployment.ToReport().FloatFallbacks, l => l.ModulePath == "block.se_block.conv2");
    }
}
