using Slim.Compression.Quantization;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Quantization;

public class SelectionTests
{
    private static QuantizationPlan Plan(TinyDetector net, QuantizationOptions options)
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 8, 8);
        return LayerSelector.Select(net, options, TestNets.Forward(net), x);
    }

    [Fact]
    public void NotQuantPatternsAndDetectionOutputStayFloatWithReasons()
    {
        using var net = TestNets.Detector();
        var plan = Plan(net, new QuantizationOptions { NotQuant = new[] { "se_block", "res_conv1" } });

        Assert.Equal(new[] { "stem.0", "dw.0", "block.residual.res_conv1.0", "block.se_block.conv1", "block.se_block.conv2", "yolo_output.0" },
            plan.Layers.Select(l => l.Path));
        Assert.Equal(new[] { "stem.0", "dw.0" }, plan.Quantized.Select(l => l.Path));
        Assert.Equal("stem.1", plan.Find("stem.0")!.BatchNormPath);
        Assert.Equal("dw.1", plan.Find("dw.0")!.BatchNormPath);
        Assert.Equal("not_quant pattern 'res_conv1'", plan.Find("block.residual.res_conv1.0")!.Reason);
        Assert.Equal("not_quant pattern 'se_block'", plan.Find("block.se_block.conv1")!.Reason);
        Assert.Equal("not_quant pattern 'se_block'", plan.Find("block.se_block.conv2")!.Reason);
        Assert.Equal("output layer", plan.Find("yolo_output.0")!.Reason);
        Assert.Null(plan.Find("block.se_block.conv1")!.BatchNormPath);

        var rows = plan.Rows().ToList();
        Assert.Equal(new[] { "stem.0", "Conv2d", "yes", QuantizationPlan.QuantizedReason + ", folds stem.1" }, rows[0]);
        Assert.Equal(new[] { "yolo_output.0", "Conv2d", "no", "output layer" }, rows[^1]);
    }

    [Fact]
    public void QuantOutputQuantizesTheDetectionOutputAndResidualConvFoldsItsBn()
    {
        using var net = TestNets.Detector();
        var plan = Plan(net, new QuantizationOptions { QuantOutput = true });
        Assert.All(plan.Layers, l => Assert.True(l.Quantized));
        Assert.Equal("block.residual.res_conv1.1", plan.Find("block.residual.res_conv1.0")!.BatchNormPath);
    }

    [Fact]
    public void UnknownPatternIsAnErrorListingPathsAndTheNearestName()
    {
        using var net = TestNets.Detector();
        var e = Assert.Throws<QuantizationException>(() => Plan(net, new QuantizationOptions { NotQuant = new[] { "se_blok" } }));
        Assert.Contains("'se_blok' matches no module path", e.Message);
        Assert.Contains("did you mean 'se_block'", e.Message);
        // Where to look instead of every path: an example path and the top-level modules.
        Assert.Matches(@"a pattern is a part of a module path such as [\w.]+ \(top-level modules: [\w, ]*yolo_output", e.Message);
        Assert.True(e.Message.Length < 400, $"{e.Message.Length} characters: a message, not a listing");
    }

    [Fact]
    public void ConvWhoseOutputAlsoFeedsAnotherOpIsNotFolded()
    {
        // conv → bn, and the conv output is also added to the result: folding would change it.
        using var net = new SharedOutputNet();
        using var scope = NewDisposeScope();
        var pairs = LayerSelector.FollowingBatchNorms(net, TestNets.Forward(net), randn(1, 2, 4, 4));
        Assert.Empty(pairs);
    }

    private sealed class SharedOutputNet : NamedBlock
    {
        public SharedOutputNet() : base("SharedOutputNet")
        {
            register_module("conv", nn.Conv2d(2, 2, 1));
            register_module("bn", nn.BatchNorm2d(2));
        }

        public override Tensor forward(Tensor x)
        {
            var c = Run("conv", x);
            return Run("bn", c) + c;
        }
    }

    [Fact]
    public void AwarePrepareSwapsLayersKeepsWeightNamesAndReplacesBnByIdentityOrAQuantPoint()
    {
        using var net = TestNets.Detector();
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 8, 8);
        var plan = AwareQuantizer.Prepare(net, new QuantizationOptions { NotQuant = new[] { "se_block" } }, TestNets.Forward(net), x);

        Assert.IsType<QuantConv2d>(net.get_submodule("stem.0"));
        Assert.IsType<QuantConv2d>(net.get_submodule("block.residual.res_conv1.0"));
        // A LeakyReLU or HardSwish after the conv, or a ReLU read by the float residual add: ONNX Runtime needs
        // a QuantizeLinear on the conv's output, so the conv's output gets a quantization point in the BN's slot.
        Assert.Equal("stem.1", Assert.IsType<QuantPoint>(net.get_submodule("stem.1")).Path);
        Assert.IsType<QuantPoint>(net.get_submodule("dw.1"));
        Assert.IsType<QuantPoint>(net.get_submodule("block.residual.res_conv1.1"));
        Assert.Equal(new[] { "stem.1", "dw.1", "block.residual.res_conv1.1" }, plan.Points.Select(p => p.Path));
        Assert.All(plan.Points, p => Assert.Equal(QuantPointKind.ConvOutput, p.Kind));
        Assert.Contains("leaky_relu", plan.Points[0].Reason);
        // A ReLU that only quantized layers read folds into their QuantizeLinear: no point, an identity.
        using var classifier = TestNets.Classifier();
        var classifierPlan = AwareQuantizer.Prepare(classifier, new QuantizationOptions(), TestNets.Forward(classifier), randn(2, 1, 8, 8));
        Assert.Equal(ActivationKind.Identity, Assert.IsType<Activation>(classifier.get_submodule("bn1")).Kind);
        Assert.Equal(new[] { "bn2" }, classifierPlan.Points.Select(p => p.Path)); // conv2's ReLU feeds the float pooling
        Assert.IsType<Conv2d>(net.get_submodule("block.se_block.conv1"));
        Assert.IsType<Conv2d>(net.get_submodule("yolo_output.0"));
        var keys = net.state_dict().Keys.ToHashSet();
        Assert.Contains("stem.0.weight", keys);
        Assert.Contains("stem.0.bn.weight", keys);
        Assert.Contains("stem.0.bn.running_var", keys);
        Assert.Contains("stem.0.input_absmax", keys);
        Assert.Contains("stem.1.input_absmax", keys);
        Assert.DoesNotContain("stem.1.weight", keys);
        Assert.Equal(3, plan.Quantized.Count());

        // Quantizing twice is refused with a clear message.
        var e = Assert.Throws<QuantizationException>(() => AwareQuantizer.Prepare(net, new QuantizationOptions(), TestNets.Forward(net), x));
        Assert.Contains("already quantized", e.Message);
    }
}
