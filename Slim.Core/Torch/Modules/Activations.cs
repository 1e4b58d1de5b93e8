using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Torch.Modules;

/// <summary>Kinds of elementwise activation.</summary>
public enum ActivationKind
{
    Identity,
    ReLU,
    ReLU6,
    LeakyReLU,
    HardSwish,
    HardSigmoid,
    Sigmoid,
    Tanh,
}

/// <summary>An elementwise activation layer (ReLU, ReLU6, LeakyReLU, Hardswish, Hardsigmoid, Sigmoid, Tanh, Identity).</summary>
public sealed class Activation : nn.Module<Tensor, Tensor>
{
    public Activation(ActivationKind kind, double negativeSlope = 0.01) : base(kind.ToString())
    {
        Kind = kind;
        NegativeSlope = negativeSlope;
    }

    public ActivationKind Kind { get; }
    public double NegativeSlope { get; }

    public override Tensor forward(Tensor x) => Apply(Kind, x, NegativeSlope);

    public static Tensor Apply(ActivationKind kind, Tensor x, double negativeSlope = 0.01) => kind switch
    {
        ActivationKind.Identity => x.alias(),
        ActivationKind.ReLU => F.relu(x),
        ActivationKind.ReLU6 => F.relu6(x),
        ActivationKind.LeakyReLU => F.leaky_relu(x, negativeSlope),
        ActivationKind.HardSwish => F.hardswish(x),
        ActivationKind.HardSigmoid => F.hardsigmoid(x),
        ActivationKind.Sigmoid => F.sigmoid(x),
        ActivationKind.Tanh => F.tanh(x),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}

/// <summary>Flattens dimensions start_dim..end_dim.</summary>
public sealed class Flatten(long startDim = 1, long endDim = -1) : nn.Module<Tensor, Tensor>("Flatten")
{
    public override Tensor forward(Tensor x) => x.flatten(startDim, endDim);
}

/// <summary>Dropout with probability p in training mode; identity in eval mode.</summary>
public sealed class Dropout(double p = 0.5) : nn.Module<Tensor, Tensor>("Dropout")
{
    public double p { get; } = p;
    public override Tensor forward(Tensor x) => F.dropout(x, p, training);
}
