using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// A ResNet block with PaddleDetection's names: basic (<c>branch2a</c> 3×3, <c>branch2b</c> 3×3) or bottleneck
/// (<c>branch2a</c> 1×1, <c>branch2b</c> 3×3 carrying the stride, <c>branch2c</c> 1×1 ×4), a projection shortcut
/// <c>branch1</c> (1×1 ConvBN) where width or resolution changes (or always, with project), the residual add, then ReLU (<c>act</c>).
/// </summary>
public sealed class ResNetBlock : torch.nn.Module<Tensor, Tensor>
{
    private readonly ConvBN[] _branch2;
    private readonly ConvBN? _branch1;
    private readonly Activation _act;

    internal ResNetBlock(ChannelPlan plan, bool bottleneck, int inChannels, int defaultIn, int planes, int stride, bool project = false) : base("ResNetBlock")
    {
        int defaultOut = bottleneck ? planes * 4 : planes;
        if (bottleneck)
        {
            var a = Backbone.Unit(plan, "branch2a", inChannels, planes, 1, 1, ActivationKind.ReLU);
            var b = Backbone.Unit(plan, "branch2b", Backbone.Width(a), planes, 3, stride, ActivationKind.ReLU);
            var c = Backbone.Unit(plan, "branch2c", Backbone.Width(b), defaultOut, 1, 1, null);
            _branch2 = new[] { a, b, c };
        }
        else
        {
            var a = Backbone.Unit(plan, "branch2a", inChannels, planes, 3, stride, ActivationKind.ReLU);
            var b = Backbone.Unit(plan, "branch2b", Backbone.Width(a), planes, 3, 1, null);
            _branch2 = new[] { a, b };
        }
        string[] names = bottleneck ? new[] { "branch2a", "branch2b", "branch2c" } : new[] { "branch2a", "branch2b" };
        for (int i = 0; i < names.Length; i++) register_module(names[i], _branch2[i]);
        OutChannels = Backbone.Width(_branch2[^1]);

        // Whether the block projects its input is decided on the unpruned widths.
        if (defaultIn != defaultOut || stride != 1 || project)
        {
            int width = plan.Fixed("branch1.conv", OutChannels, $"the shortcut is added to '{plan.Join(names[^1])}' with {OutChannels} channels");
            _branch1 = new ConvBN(inChannels, width, 1, stride, 1, null);
            register_module("branch1", _branch1);
        }
        else
        {
            Backbone.CheckResidual(plan, names[^1], inChannels, OutChannels);
        }
        register_module("add", new Add());
        _act = new Activation(ActivationKind.ReLU);
        register_module("act", _act);
    }

    /// <summary>Output channels as built.</summary>
    public int OutChannels { get; }

    public override Tensor forward(Tensor x)
    {
        var y = x;
        foreach (var unit in _branch2) y = unit.call(y);
        var shortcut = _branch1 is null ? x : _branch1.call(x);
        // The residual add is a module (quantization may swap it for its int8 form), looked up at each call.
        return _act.call(((torch.nn.Module<Tensor[], Tensor>)get_submodule("add")).call(new[] { y, shortcut }));
    }
}
