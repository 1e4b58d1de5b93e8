using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>A MobileNetV1 block: 3×3 depthwise ConvBN (<c>dw</c>) then 1×1 pointwise ConvBN (<c>pw</c>), both ReLU.</summary>
public sealed class DepthwiseSeparable : torch.nn.Module<Tensor, Tensor>
{
    private readonly ConvBN _dw;
    private readonly ConvBN _pw;

    internal DepthwiseSeparable(ChannelPlan plan, int inChannels, int defaultOut, int stride) : base("DepthwiseSeparable")
    {
        _dw = Backbone.Depthwise(plan, "dw", inChannels, 3, stride, ActivationKind.ReLU);
        _pw = Backbone.Unit(plan, "pw", inChannels, defaultOut, 1, 1, ActivationKind.ReLU);
        register_module("dw", _dw);
        register_module("pw", _pw);
    }

    /// <summary>Output channels as built.</summary>
    public int OutChannels => Backbone.Width(_pw);

    public override Tensor forward(Tensor x) => _pw.call(_dw.call(x));
}
