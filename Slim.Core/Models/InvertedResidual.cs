using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// A MobileNetV2 inverted residual: 1×1 expansion ConvBN (<c>expand</c>, omitted when the expansion
/// factor is 1 unless in Paddle's layout, which always has it), 3×3 depthwise ConvBN (<c>dwise</c>), both ReLU6, linear 1×1 ConvBN (<c>linear</c>), and
/// a residual add when the block keeps width and resolution.
/// </summary>
public sealed class InvertedResidual : torch.nn.Module<Tensor, Tensor>
{
    private readonly ConvBN? _expand;
    private readonly ConvBN _dwise;
    private readonly ConvBN _linear;

    internal InvertedResidual(ChannelPlan plan, int inChannels, int defaultIn, int defaultOut, int expansion, int stride,
        ModelLayout layout = ModelLayout.Torchvision) : base("InvertedResidual")
    {
        int hidden = inChannels;
        if (expansion != 1 || layout == ModelLayout.Paddle)
        {
            _expand = Backbone.Unit(plan, "expand", inChannels, defaultIn * expansion, 1, 1, ActivationKind.ReLU6);
            register_module("expand", _expand);
            hidden = Backbone.Width(_expand);
        }
        _dwise = Backbone.Depthwise(plan, "dwise", hidden, 3, stride, ActivationKind.ReLU6);
        _linear = Backbone.Unit(plan, "linear", hidden, defaultOut, 1, 1, null);
        register_module("dwise", _dwise);
        register_module("linear", _linear);
        OutChannels = Backbone.Width(_linear);
        HiddenChannels = hidden;
        HasResidual = stride == 1 && defaultIn == defaultOut;
        if (HasResidual)
        {
            Backbone.CheckResidual(plan, "linear", inChannels, OutChannels);
            register_module("add", new Add());
        }
    }

    /// <summary>Output channels as built.</summary>
    public int OutChannels { get; }

    /// <summary>Channels of the expansion (the depthwise conv's width).</summary>
    public int HiddenChannels { get; }

    /// <summary>Whether the input is added to the output.</summary>
    public bool HasResidual { get; }

    public override Tensor forward(Tensor x) => Forward(x, out _);

    /// <summary>The block's output, and the depthwise conv's output inside it (DeepLab's decoder shortcut).</summary>
    public Tensor Forward(Tensor x, out Tensor depthwise)
    {
        var y = _expand is null ? x : _expand.call(x);
        depthwise = _dwise.call(y);
        y = _linear.call(depthwise);
        // The residual add is a module (quantization may swap it for its int8 form), looked up at each call.
        return HasResidual ? ((torch.nn.Module<Tensor[], Tensor>)get_submodule("add")).call(new[] { x, y }) : y;
    }
}
