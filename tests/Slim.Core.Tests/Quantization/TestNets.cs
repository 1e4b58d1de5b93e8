using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Quantization;

/// <summary>Children looked up by name at each call, so quantization can swap them.</summary>
internal abstract class NamedBlock(string type) : nn.Module<Tensor, Tensor>(type)
{
    protected Tensor Run(string child, Tensor x) => ((nn.Module<Tensor, Tensor>)get_submodule(child)).call(x);
}

/// <summary>x + res_conv1(x): a residual add around a conv-BN-ReLU.</summary>
internal sealed class ResidualBlock : NamedBlock
{
    public ResidualBlock(long channels) : base("ResidualBlock") =>
        register_module("res_conv1", nn.Sequential(nn.Conv2d(channels, channels, 1, bias: false), TestNets.Bn(channels), nn.ReLU()));

    public override Tensor forward(Tensor x)
    {
        using var r = Run("res_conv1", x);
        return x + r;
    }
}

/// <summary>Squeeze-excitation: x · hardsigmoid(conv2(relu(conv1(pool(x))))), convs with bias.</summary>
internal sealed class SeBlock : NamedBlock
{
    public SeBlock(long channels) : base("SEBlock")
    {
        register_module("pool", nn.AdaptiveAvgPool2d(1));
        register_module("conv1", nn.Conv2d(channels, channels / 2, 1));
        register_module("act1", nn.ReLU());
        register_module("conv2", nn.Conv2d(channels / 2, channels, 1));
        register_module("act2", nn.Hardsigmoid());
    }

    public override Tensor forward(Tensor x)
    {
        using var s = Run("act2", Run("conv2", Run("act1", Run("conv1", Run("pool", x)))));
        return x * s;
    }
}

/// <summary>A tiny detector-like net: stem (conv-BN-LeakyReLU), depthwise (conv-BN-HardSwish), a residual block, an SE block, and yolo_output.0.</summary>
internal sealed class TinyDetector : NamedBlock
{
    public TinyDetector() : base("TinyDetector")
    {
        register_module("stem", nn.Sequential(nn.Conv2d(3, 8, 3, padding: 1, bias: false), TestNets.Bn(8), nn.LeakyReLU(0.1)));
        register_module("dw", nn.Sequential(nn.Conv2d(8, 8, 3, padding: 1, groups: 8, bias: false), TestNets.Bn(8), nn.Hardswish()));
        var block = new Sequential(("residual", (nn.Module<Tensor, Tensor>)new ResidualBlock(8)), ("se_block", new SeBlock(8)));
        register_module("block", block);
        register_module("yolo_output", nn.Sequential(nn.Conv2d(8, 6, 1, bias: true)));
    }

    public override Tensor forward(Tensor x) => Run("yolo_output", Run("block", Run("dw", Run("stem", x))));
}

internal static class TestNets
{
    /// <summary>A BatchNorm2d with non-trivial statistics and affine parameters.</summary>
    public static BatchNorm2d Bn(long channels)
    {
        var bn = nn.BatchNorm2d(channels);
        using var _ = no_grad();
        bn.weight.uniform_(0.5, 1.5);
        bn.bias.uniform_(-0.2, 0.2);
        bn.running_mean.uniform_(-0.3, 0.3);
        bn.running_var.uniform_(0.5, 2.0);
        return bn;
    }

    public static TinyDetector Detector(long seed = 3)
    {
        manual_seed(seed);
        return new TinyDetector();
    }

    /// <summary>A classifier: two conv-BN-ReLU, pooling, a Linear "fc".</summary>
    public static Sequential Classifier(long seed = 5, long classes = 4)
    {
        manual_seed(seed);
        return new Sequential(
            ("conv1", nn.Conv2d(1, 8, 3, padding: 1, bias: false)), ("bn1", Bn(8)), ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(8, 16, 3, stride: 2, padding: 1, bias: false)), ("bn2", Bn(16)), ("relu2", nn.ReLU()),
            ("pool", nn.AdaptiveAvgPool2d(1)), ("flat", nn.Flatten()), ("fc", nn.Linear(16, classes)));
    }

    public static Func<Tensor, IEnumerable<Tensor>> Forward(nn.Module<Tensor, Tensor> m) => x => new[] { m.call(x) };

    /// <summary>Output of m in eval mode without gradients, detached from any scope.</summary>
    public static float[] Eval(nn.Module<Tensor, Tensor> m, Tensor x)
    {
        bool was = m.training;
        m.eval();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var y = m.call(x).ToFloatArray();
        m.train(was);
        return y;
    }

    public static double RelativeError(float[] a, float[] reference)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++)
        {
            num += (a[i] - reference[i]) * (double)(a[i] - reference[i]);
            den += reference[i] * (double)reference[i];
        }
        return Math.Sqrt(num / Math.Max(den, 1e-30));
    }

    public static double MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
}
