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
    internal static Sequential Hostile()
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

public class QuantFallbackTests
{
    [Fact]
    public void TheHostileLayerIsFloatedFirstAndThatAloneRepairsTheModel()
    {
        using var scope = NewDisposeScope();
        using var net = QuantAnalysisTests.Hostile();
        net.eval();
        var x = rand(new long[] { 4, 3, 12, 12 }, new Generator(8));
        Tensor reference;
        using (no_grad()) reference = net.call(x).detach().clone();
        PostTrainingQuantizer.Run(net, new QuantizationOptions { Algorithm = CalibrationAlgo.AbsMax }, t => new[] { net.call(t) }, new[] { x });
        var layers = net.modules().OfType<QuantLayer>().ToList();
        double Metric()
        {
            using var s = NewDisposeScope();
            using var g = no_grad();
            return -F.mse_loss(net.call(x), reference).item<float>();
        }
        var ranking = QuantAnalysis.Run(net, Metric).Layers.Select(l => l.Layer).ToList();
        // The metric with the given layers in float, the others quantized; the gate: within 1e-4 of float.
        double WithFloat(IReadOnlyList<string> floats)
        {
            foreach (var l in layers) l.QuantizationEnabled = !floats.Contains(l.Path);
            try { return Metric(); }
            finally { foreach (var l in layers) l.QuantizationEnabled = true; }
        }
        Assert.True(WithFloat([]) < -1e-4, $"all int8 already passes ({WithFloat([])}): the gate would not be tested");
        var result = QuantFallback.Run(ranking, WithFloat, m => m >= -1e-4, maxLayers: 3);
        Assert.True(result.Passed);
        Assert.Equal(new[] { "2" }, result.Kept.FloatLayers);
        Assert.Single(result.Steps);

        // A gate nothing meets: every try is made, the best is kept and it did not pass.
        var hopeless = QuantFallback.Run(ranking, WithFloat, m => m > 0, maxLayers: 2);
        Assert.False(hopeless.Passed);
        Assert.Equal(2, hopeless.Steps.Count);
        Assert.Equal(hopeless.Steps.Max(s => s.Metric), hopeless.Kept.Metric);
    }
}
