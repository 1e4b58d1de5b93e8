using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// A MobileNetV3 residual unit as PaddleDetection builds it: 1×1 expansion ConvBN (<c>expand</c>),
/// k×k depthwise ConvBN in the scope <c>res_conv1</c>, optional squeeze-excitation in the scope
/// <c>se_block</c>, linear 1×1 ConvBN (<c>linear</c>), and a residual add when the unit keeps its
/// width and resolution. The two scope names are those PaddleSlim's not-quant patterns use. In torchvision's
/// layout a unit whose expansion keeps its input width has no <c>expand</c>.
/// </summary>
public sealed class MobileNetV3Block : torch.nn.Module<Tensor, Tensor>
{
    private readonly ConvBN? _expand;
    private readonly ConvBN _depthwise;
    private readonly SEBlock? _se;
    private readonly ConvBN _linear;

    internal MobileNetV3Block(ChannelPlan plan, int inChannels, int defaultIn, int defaultMid, int defaultOut, int kernel, int stride,
        bool useSe, ActivationKind activation, ModelLayout layout) : base("MobileNetV3Block")
    {
        int mid = inChannels;
        if (layout == ModelLayout.Paddle || defaultMid != defaultIn)
        {
            _expand = Backbone.Unit(plan, "expand", inChannels, defaultMid, 1, 1, activation);
            mid = Backbone.Width(_expand);
            register_module("expand", _expand);
        }
        MidChannels = mid;
        _depthwise = Backbone.Depthwise(plan, "res_conv1", mid, kernel, stride, activation);
        register_module("res_conv1", _depthwise);
        if (useSe)
        {
            _se = new SEBlock(plan.Scope("se_block"), mid, _expand is null ? defaultIn : defaultMid, layout);
            register_module("se_block", _se);
        }
        _linear = Backbone.Unit(plan, "linear", mid, defaultOut, 1, 1, null);
        register_module("linear", _linear);
        OutChannels = Backbone.Width(_linear);
        // Whether the unit has a shortcut is part of the architecture, decided on the unpruned widths.
        HasResidual = defaultIn == defaultOut && stride == 1;
        if (HasResidual)
        {
            Backbone.CheckResidual(plan, "linear", inChannels, OutChannels);
            register_module("add", new Add());
        }
    }

    /// <summary>Output channels as built.</summary>
    public int OutChannels { get; }

    /// <summary>Channels of the expansion (the depthwise conv's width).</summary>
    public int MidChannels { get; }

    /// <summary>Whether the input is added to the output.</summary>
    public bool HasResidual { get; }

    public override Tensor forward(Tensor x) => Forward(x, out _);

    /// <summary>The unit's output, and the expansion's output inside it (SSDLite's stride-16 map; the input when the unit does not expand).</summary>
    public Tensor Forward(Tensor x, out Tensor expanded)
    {
        expanded = _expand is null ? x : _expand.call(x);
        var y = _depthwise.call(expanded);
        if (_se is not null) y = _se.call(y);
        y = _linear.call(y);
        // The residual add is a module (quantization may swap it for its int8 form), looked up at each call.
        return HasResidual ? ((torch.nn.Module<Tensor[], Tensor>)get_submodule("add")).call(new[] { x, y }) : y;
    }
}
