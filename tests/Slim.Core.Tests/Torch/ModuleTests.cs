using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Torch;

public class ModuleTests
{
    /// <summary>A two-level model: a backbone Sequential and a dictionary of heads.</summary>
    private sealed class TwoLevel : nn.Module<Tensor, Tensor>
    {
        public readonly Sequential Backbone;
        public readonly ModuleDict<Conv2d> Heads = new();

        public TwoLevel() : base("TwoLevel")
        {
            Backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding: 1, bias: false), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5));
            Heads.Add("cls", new Conv2d(4, 2, 1, weightName: "weights"));
            register_module("backbone", Backbone);
            register_module("heads", Heads);
        }

        public override Tensor forward(Tensor x)
        {
            using var features = Backbone.call(x);
            return Heads["cls"].call(features);
        }
    }

    [Fact]
    public void NamesAreHierarchical()
    {
        using var m = new TwoLevel();
        Assert.Equal(new[] { "backbone.0.weight", "backbone.1.weight", "backbone.1.bias", "heads.cls.weights", "heads.cls.bias" },
            m.named_parameters().Select(p => p.name));
        Assert.Equal(new[]
            {
                "backbone.0.weight", "backbone.1.weight", "backbone.1.bias", "backbone.1.running_mean", "backbone.1.running_var",
                "heads.cls.weights", "heads.cls.bias",
            },
            m.state_dict().Keys);
        Assert.Equal(new[] { "", "backbone", "backbone.0", "backbone.1", "backbone.2", "backbone.3", "heads", "heads.cls" },
            m.named_modules().Select(x => x.name));
        Assert.Same(m.get_parameter("heads.cls.weights"), m.Heads["cls"].weight);
        Assert.Same(m.get_submodule("backbone.1"), m.Backbone[1]);
        Assert.Throws<KeyNotFoundException>(() => m.get_parameter("backbone.7.weight"));
    }

    [Fact]
    public void PaddleBatchNormNamesAppearInTheStateDict()
    {
        using var bn = new BatchNorm2d(3, names: BatchNormNames.Paddle);
        Assert.Equal(new[] { "scale", "offset", "mean", "var" }, bn.state_dict().Keys);
    }

    [Fact]
    public void TrainAndEvalPropagateAndChangeBehaviour()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var m = new TwoLevel();
        Assert.All(m.modules(), x => Assert.True(x.training));
        var x = randn(2, 3, 6, 6);

        m.eval();
        Assert.All(m.modules(), x => Assert.False(x.training));
        using (no_grad())
        {
            // Eval: dropout is identity and batch norm uses its running statistics, so repeated calls agree.
            var a = m.call(x);
            var b = m.call(x);
            Assert.True(a.equal(b));
        }
        Assert.True(m.Backbone[1] is BatchNorm2d bn && bn.running_mean.abs().sum().item<float>() == 0);

        m.train();
        Assert.All(m.modules(), x => Assert.True(x.training));
        using (no_grad()) m.call(x);
        Assert.True(((BatchNorm2d)m.Backbone[1]).running_mean.abs().sum().item<float>() > 0, "training forward must update running stats");
    }

    [Fact]
    public void ForwardHookReplacesOutputUntilRemoved()
    {
        using var scope = NewDisposeScope();
        using var m = new TwoLevel();
        m.eval();
        var x = randn(1, 3, 4, 4);
        Tensor? seenInput = null;
        var hook = m.Backbone[2].register_forward_hook((module, input, output) =>
        {
            seenInput = (Tensor)input;
            return zeros_like((Tensor)output);
        });
        using (no_grad())
        {
            var y = m.call(x);
            // With the ReLU's output zeroed, the 1x1 head returns just its bias at every pixel.
            var bias = m.Heads["cls"].bias!.view(1, 2, 1, 1).expand(1, 2, 4, 4);
            Assert.True(y.allclose(bias));
            Assert.NotNull(seenInput);
            hook.Dispose();
            var z = m.call(x);
            Assert.False(z.allclose(bias));
        }
    }

    [Fact]
    public void SetParameterAndSetSubmoduleSwapInPlace()
    {
        using var scope = NewDisposeScope();
        using var net = nn.Sequential(nn.Conv2d(3, 4, 3, padding: 1), nn.ReLU(), nn.Conv2d(4, 2, 1));

        // Prune the first conv to 3 output channels and the second's inputs to match, as the pruner does.
        var first = (Conv2d)net[0];
        var second = (Conv2d)net[2];
        using (no_grad())
        {
            net.set_parameter("0.weight", first.weight.narrow(0, 0, 3).clone());
            net.set_parameter("0.bias", first.bias!.narrow(0, 0, 3).clone());
            net.set_parameter("2.weight", second.weight.narrow(1, 0, 3).clone());
        }
        first.out_channels = 3;
        second.in_channels = 3;
        Assert.Equal(new long[] { 3, 3, 3, 3 }, net.get_parameter("0.weight").shape);
        Assert.True(net.get_parameter("0.weight").requires_grad);
        Assert.Equal(new long[] { 1, 2, 5, 5 }, net.call(randn(1, 3, 5, 5)).shape);

        var old = net.set_submodule("1", nn.Sigmoid());
        Assert.IsType<Activation>(old);
        old.Dispose();
        Assert.Equal(ActivationKind.Sigmoid, ((Activation)net[1]).Kind);
        using (no_grad())
        {
            // Sigmoid outputs are positive, which ReLU would not guarantee after a zeroed conv.
            first.weight.zero_();
            first.bias!.fill_(-1);
            var hidden = ((Activation)net[1]).call(first.call(randn(1, 3, 5, 5)));
            Assert.True(hidden.gt(0).all().item<bool>());
        }
        Assert.Throws<KeyNotFoundException>(() => net.set_submodule("5", nn.ReLU()));
        Assert.Throws<KeyNotFoundException>(() => net.set_parameter("1.weight", zeros(1)));
    }

    [Fact]
    public void ToFloat64ConvertsInPlaceKeepingIdentityAndLeaksNothing()
    {
        using var scope = NewDisposeScope();
        using var m = new TwoLevel();
        var before = m.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using var opt = new optim.SGD(m.parameters(), 0.1);
        long live = Tensor.LiveCount;
        m.to(ScalarType.Float64);
        Assert.Equal(live, Tensor.LiveCount);
        foreach (var (name, t) in m.state_dict()) Assert.Equal(ScalarType.Float64, t.dtype);
        foreach (var (name, p) in m.named_parameters())
        {
            Assert.Same(before[name], p);
            Assert.True(p.requires_grad, name);
        }

        // The optimizer holds the same tensors, so it trains the converted model.
        var w = m.get_parameter("heads.cls.weights");
        var w0 = w.clone();
        var y = m.call(randn(new long[] { 2, 3, 4, 4 }, null, ScalarType.Float64));
        Assert.Equal(ScalarType.Float64, y.dtype);
        y.sum().backward();
        opt.step();
        Assert.False(w.equal(w0));

        live = Tensor.LiveCount;
        m.to(Device.CPU);
        Assert.Equal(live, Tensor.LiveCount);
    }
}
