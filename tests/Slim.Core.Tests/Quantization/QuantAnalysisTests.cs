using Slim.Compression.Quantization;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Quantization;

public class QuantAnalysisTests
{
    // conv(3→8) relu conv(8→8) relu conv(8→4): the first conv's channel 0 is made 1000 times larger and the second
    // conv reads it 1000 times smaller, so the float network computes the same, but the second conv's input, quantized
    // per tensor, spends its whole grid on channel 0 and rounds the other seven channels to zero.
    private static Sequential Hostile()
    {
        manual_seed(3);
        var net = new Sequential(new Conv2d(3, 8, 3, 1, 1), new Activation(ActivationKind.ReLU), new Conv2d(8, 8, 1),
            new Activation(ActivationKind.ReLU), new Conv2d(8, 4, 1));
        using var _ = no_grad();
        var first = (Conv2d)net.named_modules().First(m => m.name == "0").module;
        var second = (Conv2d)net.named_modules().First(m => m.name == "2").module;
        first.weight.narrow(0, 0, 1).mul_(1000);
        first.bias!.narrow(0, 0, 1).mul_(1000);
        second.weight.narrow(1, 0, 1).div_(1000);
        return net;
    }

    [Fact]
    public void TheQuantizationHostileLayerRanksFirstAndTheModelEndsQuantized()
    {
        using var scope = NewDisposeScope();
        using var net = Hostile();
        net.eval();
        var x = rand(new long[] { 4, 3, 12, 12 }, new Generator(8));
        Tensor reference;
        using (no_grad()) reference = net.call(x).detach().clone();
        var calibration = new[] { x };
        PostTrainingQuantizer.Run(net, new QuantizationOptions { Algorithm = CalibrationAlgo.AbsMax }, t => new[] { net.call(t) }, calibration);
        double Metric()
        {
            using var s = NewDisposeScope();
            using var _ = no_grad();
            return -F.mse_loss(net.call(x), reference).item<float>();
        }
        double allInt8 = Metric();
        var result = QuantAnalysis.Run(net, Metric);
        Assert.Equal(3, result.Layers.Count);
        Assert.Equal("2", result.Layers[0].Layer);
        Assert.True(result.Layers[0].Loss > 10 * Math.Abs(result.Layers[1].Loss), string.Join("; ", result.Layers));
        Assert.InRange(result.FloatMetric, -1e-10, 0);     // float: the reference itself
        Assert.Equal(allInt8, result.Int8Metric, 12);
        Assert.Equal(allInt8, Metric(), 12);               // every layer quantized again afterwards
    }
}
