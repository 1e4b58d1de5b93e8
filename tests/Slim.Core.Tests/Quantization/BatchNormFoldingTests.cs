using Slim.Compression.Quantization;
using Slim.Recipes;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Quantization;

public class BatchNormFoldingTests
{
    [Theory]
    [InlineData(1, false)]
    [InlineData(1, true)]
    [InlineData(6, false)] // depthwise
    public void FoldedConvEqualsConvThenBnInEvalMode(long groups, bool bias)
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        using var conv = nn.Conv2d(6, 6, 3, padding: 1, groups: groups, bias: bias);
        using var bn = TestNets.Bn(6);
        bn.eval();
        var x = randn(2, 6, 7, 7);
        using var _ = no_grad();
        var reference = bn.call(conv.call(x));
        var (w, b) = BatchNormFolding.Fold(conv.weight, conv.bias, bn);
        var folded = F.conv2d(x, w, b, null, new long[] { 1, 1 }, null, groups);
        Assert.True(folded.allclose(reference, 1e-5, 1e-5), $"max diff {(folded - reference).abs().max().item<float>()}");
    }

    [Fact]
    public void PostPrepareFoldsEveryBnAndTheFloatComputationIsUnchanged()
    {
        using var reference = TestNets.Detector(seed: 21);
        using var net = TestNets.Detector(seed: 21);
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 8, 8);
        var expected = TestNets.Eval(reference, x);
        var ptq = PostTrainingQuantizer.Prepare(net, new QuantizationOptions { QuantOutput = true }, TestNets.Forward(net), x);
        Assert.Equal(6, net.modules().OfType<QuantLayer>().Count());
        Assert.Empty(net.modules().OfType<BatchNorm2d>());
        foreach (var q in net.modules().OfType<ActivationQuantizer>()) q.QuantizationEnabled = false;
        Assert.True(TestNets.MaxAbsDiff(TestNets.Eval(net, x), expected) < 1e-5);
        Assert.Equal("stem.1", ((QuantConv2d)net.get_submodule("stem.0")).BatchNormPath);
        Assert.Equal(CalibrationAlgo.Hist, ptq.Options.Algorithm);
    }

    [Fact]
    public void AwareConvEvalEqualsFoldedConvAndToFakeQuantKeepsOutputs()
    {
        using var net = TestNets.Classifier();
        using var scope = NewDisposeScope();
        var x = randn(4, 1, 8, 8);
        AwareQuantizer.Prepare(net, new QuantizationOptions(), TestNets.Forward(net), x);
        net.train();
        using (no_grad()) net.call(x); // one observer step sets the input scales
        var before = TestNets.Eval(net, x);

        // Eval of the QAT conv equals fq(x) → conv(fq(folded w)) + folded b on the int32 grid the file adds it on
        // (step input_scale · weight_scale), computed by hand.
        var q = (QuantConv2d)net.get_submodule("conv1");
        net.eval();
        using (no_grad())
        {
            var (w, b) = BatchNormFolding.Fold(q.weight, q.bias, q.BatchNorm!);
            var ws = FakeQuant.WeightScales(w, q.WeightQuantMax).ToFloatArray();
            float s = (float)q.InputScale;
            var bf = b!.ToFloatArray();
            var onGrid = bf.Select((v, c) => (float)(Math.Round(v / (double)(s * ws[c]), MidpointRounding.ToEven) * (s * ws[c]))).ToArray();
            Assert.True(onGrid.Zip(bf).Any(p => p.First != p.Second), "the grid moves no bias: the check below would not see it");
            var manual = F.conv2d(FakeQuant.PerTensor(x, q.InputScale), FakeQuant.PerChannelWeight(w, q.WeightQuantMax), tensor(onGrid, onGrid.Length), null, new long[] { 1, 1 });
            Assert.True(q.call(x).allclose(manual, 0, 1e-6));
        }

        var result = QuantizationResult.ToFakeQuant(net);
        Assert.Null(((QuantConv2d)net.get_submodule("conv1")).BatchNorm);
        Assert.Equal("bn1", result.Find("conv1")!.FoldedBatchNorm);
        Assert.True(TestNets.MaxAbsDiff(TestNets.Eval(net, x), before) < 1e-4);
    }
}
