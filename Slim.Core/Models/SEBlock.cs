using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// Squeeze-and-excitation as in PaddleDetection's MobileNetV3: global average pool, 1×1 conv
/// (<c>conv1</c>, channels/4, ReLU), 1×1 conv (<c>conv2</c>, back to channels, hard sigmoid), and the
/// input scaled channel-wise by the result. Both convs carry a bias ("weights"/"bias"). torchvision's
/// SqueezeExcitation is the same layer with channels/4 rounded to a multiple of 8.
/// </summary>
/// <remarks>
/// The hard sigmoid is PyTorch's (x/6 + 1/2, clipped), which ONNX's HardSigmoid expresses exactly;
/// Paddle's slope is 0.2: importing Paddle weights multiplies the second conv by 1.2, which makes the two equal.
/// </remarks>
public sealed class SEBlock : torch.nn.Module<Tensor, Tensor>
{
    private readonly torch.nn.Module<Tensor, Tensor> _pool;
    private torch.nn.Module<Tensor, Tensor> _conv1;
    private readonly torch.nn.Module<Tensor, Tensor> _act1;
    private torch.nn.Module<Tensor, Tensor> _conv2;
    private readonly torch.nn.Module<Tensor, Tensor> _act2;

    /// <summary>
    /// Squeezes to a quarter of the unpruned width (Paddle's), or that rounded to a multiple of 8 (torchvision's); the
    /// plan's override where pruning changed it. channels is the width as built, pruned or not.
    /// </summary>
    internal SEBlock(ChannelPlan plan, int channels, int defaultChannels, ModelLayout layout = ModelLayout.Paddle) : base("SEBlock")
    {
        int squeeze = layout == ModelLayout.Torchvision ? Channels.MakeDivisible(defaultChannels / 4) : Math.Max(1, defaultChannels / 4);
        int mid = plan.Out("conv1", squeeze);
        plan.Fixed("conv2", channels, $"the excitation scales the block's {channels} channels one by one");
        _pool = new AdaptiveAvgPool2d(1);
        _conv1 = new Conv2d(channels, mid, 1, bias: true, weightName: "weights", biasName: "bias");
        _act1 = new Activation(ActivationKind.ReLU);
        _conv2 = new Conv2d(mid, channels, 1, bias: true, weightName: "weights", biasName: "bias");
        _act2 = new Activation(ActivationKind.HardSigmoid);
        register_module("pool", _pool);
        register_module("conv1", _conv1);
        register_module("act1", _act1);
        register_module("conv2", _conv2);
        register_module("act2", _act2);
    }

    protected override void OnChildReplaced(string name, torch.nn.Module value)
    {
        var layer = (torch.nn.Module<Tensor, Tensor>)value;
        if (name == "conv1") _conv1 = layer;
        else if (name == "conv2") _conv2 = layer;
        else throw new ArgumentException($"SEBlock.{name} cannot be replaced");
    }

    public override Tensor forward(Tensor x)
    {
        var s = _act2.call(_conv2.call(_act1.call(_conv1.call(_pool.call(x)))));
        return x * s;
    }
}
