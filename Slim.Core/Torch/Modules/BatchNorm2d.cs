using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Torch.Modules;

/// <summary>How a BatchNorm2d names its tensors: PyTorch's or PaddlePaddle's (scale/offset/mean/var).</summary>
public enum BatchNormNames
{
    Torch,
    Paddle,
}

/// <summary>Batch normalization over NCHW maps, with running statistics.</summary>
public sealed class BatchNorm2d : nn.Module<Tensor, Tensor>
{
    private readonly string _w, _b, _m, _v;

    public BatchNorm2d(long num_features, double eps = 1e-5, double momentum = 0.1, BatchNormNames names = BatchNormNames.Torch)
        : base("BatchNorm2d")
    {
        this.num_features = num_features;
        this.eps = eps;
        this.momentum = momentum;
        (_w, _b, _m, _v) = names == BatchNormNames.Paddle
            ? ("scale", "offset", "mean", "var")
            : ("weight", "bias", "running_mean", "running_var");
        register_parameter(_w, ones(new[] { num_features }));
        register_parameter(_b, zeros(new[] { num_features }));
        register_buffer(_m, zeros(new[] { num_features }));
        register_buffer(_v, ones(new[] { num_features }));
    }

    public long num_features { get; set; }
    public double eps { get; }
    public double momentum { get; set; }

    /// <summary>When set, the layer normalizes with its running statistics even in training mode (BN freeze in QAT).</summary>
    public bool FreezeStatistics { get; set; }

    public Tensor weight => GetParameterOrNull(_w)!;
    public Tensor bias => GetParameterOrNull(_b)!;
    public Tensor running_mean => GetBufferOrNull(_m)!;
    public Tensor running_var => GetBufferOrNull(_v)!;
    public string WeightName => _w;
    public string BiasName => _b;
    public string MeanName => _m;
    public string VarName => _v;

    public override Tensor forward(Tensor input) =>
        F.batch_norm(input, running_mean, running_var, weight, bias, training && !FreezeStatistics, momentum, eps);
}
