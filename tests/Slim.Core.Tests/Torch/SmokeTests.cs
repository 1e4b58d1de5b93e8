using Slim.Torch;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Torch;

public class SmokeTests
{
    [Fact]
    public void ConvForwardBackwardRuns()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 8, 8);
        var w = randn(4, 3, 3, 3).requires_grad_();
        var y = F.conv2d(x, w, null, null, new long[] { 1, 1 });
        Assert.Equal(new long[] { 2, 4, 8, 8 }, y.shape);
        y.sum().backward();
        Assert.Equal(new long[] { 4, 3, 3, 3 }, w.grad!.shape);
    }
}

public class TraceSmokeTests
{
    [Fact]
    public void TraceSeesConvWithParameterNames()
    {
        using var scope = NewDisposeScope();
        using var net = nn.Sequential(nn.Conv2d(3, 4, 3, padding: 1), nn.BatchNorm2d(4), nn.ReLU());
        var x = randn(1, 3, 8, 8);
        using var trace = Trace.Run(net, new[] { x }, xs => new[] { net.call(xs[0]) });
        var conv = trace.Nodes.Single(n => n.Kind == "conv2d");
        Assert.Equal("0.weight", trace.ParameterName(conv.ValueOfArg(1)));
        Assert.Equal("0", conv.ModulePath);
        var bn = trace.Nodes.Single(n => n.Kind == "batch_norm");
        Assert.Equal(conv.Outputs[0], bn.ValueOfArg(0));
    }
}
