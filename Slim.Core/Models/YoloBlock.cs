using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// One YOLOv3 detection block as PaddleDetection names it: two pairs <c>0</c> and <c>1</c>, each a 1×1
/// ConvBN (<c>.0</c>, width) and a 3×3 ConvBN (<c>.1</c>, 2·width); the route <c>2</c> (1×1, width); and the
/// tip (3×3, 2·width) that feeds the output conv. All leaky ReLU 0.1. Forward returns [route, tip].
/// </summary>
public sealed class YoloBlock : torch.nn.Module<Tensor, Tensor[]>
{
    /// <summary>Negative slope of every head activation.</summary>
    public const double LeakySlope = 0.1;

    internal YoloBlock(ChannelPlan plan, int inChannels, int width) : base("YoloBlock")
    {
        int c = inChannels;
        for (int j = 0; j < 2; j++)
        {
            var reduce = Leaky(plan, $"{j}.0", c, width, 1);
            var expand = Leaky(plan, $"{j}.1", Backbone.Width(reduce), width * 2, 3);
            register_module(j.ToString(), new Sequential(reduce, expand));
            c = Backbone.Width(expand);
        }
        var route = Leaky(plan, "2", c, width, 1);
        var tip = Leaky(plan, "tip", Backbone.Width(route), width * 2, 3);
        register_module("2", route);
        register_module("tip", tip);
        RouteChannels = Backbone.Width(route);
        TipChannels = Backbone.Width(tip);
    }

    /// <summary>Channels of the route (what the next scale's transition reads).</summary>
    public int RouteChannels { get; }

    /// <summary>Channels of the tip (what the output conv reads).</summary>
    public int TipChannels { get; }

    private static ConvBN Leaky(ChannelPlan plan, string name, int inChannels, int defaultOut, int kernel) =>
        Backbone.Unit(plan, name, inChannels, defaultOut, kernel, 1, ActivationKind.LeakyReLU, LeakySlope);

    private torch.nn.Module<Tensor, Tensor> Layer(string path) => (torch.nn.Module<Tensor, Tensor>)get_submodule(path);

    public override Tensor[] forward(Tensor x)
    {
        var y = Layer("1").call(Layer("0").call(x));
        var route = Layer("2").call(y);
        var tip = Layer("tip").call(route);
        return new[] { route, tip };
    }
}
