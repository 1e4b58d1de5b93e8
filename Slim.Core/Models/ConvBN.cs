using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// Convolution without bias, batch norm, then an optional activation — the unit every
/// PaddleDetection model is built of. Children are named <c>conv</c> (weight "weights"),
/// <c>bn</c> (scale/offset/mean/var) and <c>act</c>, so parameters read
/// <c>&lt;path&gt;.conv.weights</c>, <c>&lt;path&gt;.bn.scale</c>, as in the published model zoo.
/// </summary>
public sealed class ConvBN : torch.nn.Module<Tensor, Tensor>
{
    // Held as plain layers so that quantization or BN folding may swap in another layer type.
    private torch.nn.Module<Tensor, Tensor> _conv;
    private torch.nn.Module<Tensor, Tensor> _bn;
    private torch.nn.Module<Tensor, Tensor>? _act;

    /// <summary>A k×k conv (padding dilation·(k−1)/2, "same") with the given stride, groups and dilation, BN, and activation (null for none).</summary>
    public ConvBN(long inChannels, long outChannels, long kernelSize, long stride = 1, long groups = 1,
        ActivationKind? activation = ActivationKind.ReLU, double negativeSlope = 0.1, long dilation = 1) : base("ConvBN")
    {
        _conv = new Conv2d(inChannels, outChannels, kernelSize, stride, dilation * (kernelSize - 1) / 2, dilation, groups, bias: false, weightName: "weights");
        _bn = new BatchNorm2d(outChannels, names: BatchNormNames.Paddle);
        register_module("conv", _conv);
        register_module("bn", _bn);
        if (activation is { } kind)
        {
            _act = new Activation(kind, negativeSlope);
            register_module("act", _act);
        }
    }

    /// <summary>The convolution, or null once another layer type replaced it.</summary>
    public Conv2d? Conv => _conv as Conv2d;

    /// <summary>The batch norm, or null once another layer type replaced it.</summary>
    public BatchNorm2d? Bn => _bn as BatchNorm2d;

    /// <summary>The activation, or null for a linear unit.</summary>
    public Activation? Act => _act as Activation;

    protected override void OnChildReplaced(string name, torch.nn.Module value)
    {
        var layer = value as torch.nn.Module<Tensor, Tensor>
            ?? throw new ArgumentException($"ConvBN.{name} must be a Tensor → Tensor layer, not {value.TypeName}");
        switch (name)
        {
            case "conv": _conv = layer; break;
            case "bn": _bn = layer; break;
            case "act": _act = layer; break;
        }
    }

    public override Tensor forward(Tensor x)
    {
        var y = _bn.call(_conv.call(x));
        return _act is null ? y : _act.call(y);
    }
}
