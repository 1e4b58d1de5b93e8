using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Compression.Quantization;

/// <summary>
/// A Linear layer computing fq(x) Wqᵀ + b: the input fake-quantized per tensor (symmetric int8),
/// the weight per output row (symmetric int8), the bias in float. Parameter names are the Linear's.
/// </summary>
public sealed class QuantLinear : QuantLayer
{
    private readonly string _weightName;
    private readonly string _biasName;

    /// <summary>A quantized copy of linear (its weight and bias are copied).</summary>
    public QuantLinear(string path, Linear linear, double observerMomentum = 0.9) : base("QuantLinear", path, observerMomentum)
    {
        in_features = linear.in_features;
        out_features = linear.out_features;
        _weightName = linear.WeightName;
        _biasName = linear.BiasName;
        using var _ = no_grad();
        register_parameter(_weightName, linear.weight.detach().clone());
        if (linear.bias is { } b) register_parameter(_biasName, b.detach().clone());
    }

    public long in_features { get; }
    public long out_features { get; }

    /// <inheritdoc />
    public override string FloatType => "Linear";
    /// <inheritdoc />
    public override string WeightName => _weightName;
    /// <inheritdoc />
    public override string BiasName => _biasName;

    public Tensor weight => GetParameterOrNull(_weightName)!;
    public Tensor? bias => GetParameterOrNull(_biasName);

    /// <inheritdoc />
    public override (Tensor Weight, Tensor? Bias) FoldedWeightAndBias() => (weight.alias(), bias?.alias());

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var x = QuantizeInput(input);
        using var wq = QuantizationEnabled ? FakeQuant.PerChannelWeight(weight, WeightQuantMax) : weight.alias();
        using var scales = FakeQuant.WeightScales(weight, WeightQuantMax);
        using var b = FileBias(bias, scales);
        return F.linear(x, wq, b);
    }
}
