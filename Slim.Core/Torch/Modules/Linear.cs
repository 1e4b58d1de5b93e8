using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Torch.Modules;

/// <summary>Fully connected layer y = x Wᵀ + b.</summary>
public sealed class Linear : nn.Module<Tensor, Tensor>
{
    public Linear(long in_features, long out_features, bool bias = true, string weightName = "weight", string biasName = "bias")
        : base("Linear")
    {
        this.in_features = in_features;
        this.out_features = out_features;
        WeightName = weightName;
        BiasName = biasName;
        var w = empty(new[] { out_features, in_features });
        nn.init.kaiming_uniform_(w, Math.Sqrt(5));
        register_parameter(weightName, w);
        if (bias)
        {
            var b = empty(new[] { out_features });
            double bound = 1 / Math.Sqrt(in_features);
            b.uniform_(-bound, bound);
            register_parameter(biasName, b);
        }
    }

    public long in_features { get; set; }
    public long out_features { get; set; }
    public string WeightName { get; }
    public string BiasName { get; }
    public Tensor weight => GetParameterOrNull(WeightName)!;
    public Tensor? bias => GetParameterOrNull(BiasName);

    public override Tensor forward(Tensor input) => F.linear(input, weight, bias);
}
