using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Torch.Modules;

/// <summary>How a BatchNorm2d names its tensors: PyTorch's or PaddlePaddle's (scale/offset/mean/var).</summary>
public enum BatchNormNames
{
    Torch,
    Paddle,
}

/// <summary>
/// Batch normalization over NCHW maps, with running statistics. Not sealed only for <see cref="SyncBatchNorm"/>, which
/// is a BatchNorm2d to every algorithm that looks for one (pruning, BN folding, export).
/// </summary>
public class BatchNorm2d : nn.Module<Tensor, Tensor>
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

    /// <summary>
    /// A batch norm named <paramref name="typeName"/> that holds <paramref name="source"/>'s own parameter and buffer
    /// tensors (the same objects, not copies, each still requiring grad or not as before) under the same names, with its
    /// eps, momentum, <see cref="FreezeStatistics"/> and training mode. The source's forward hooks stay with the source.
    /// </summary>
    protected internal BatchNorm2d(string typeName, BatchNorm2d source) : base(typeName)
    {
        ArgumentNullException.ThrowIfNull(source);
        num_features = source.num_features;
        eps = source.eps;
        momentum = source.momentum;
        FreezeStatistics = source.FreezeStatistics;
        (_w, _b, _m, _v) = (source._w, source._b, source._m, source._v);
        foreach (var name in new[] { _w, _b })
        {
            var p = source.GetParameterOrNull(name);
            bool requiresGrad = p?.requires_grad ?? false;
            register_parameter(name, p);
            // register_parameter makes a new float parameter trainable; a frozen one must stay frozen.
            if (p is not null) p.requires_grad = requiresGrad;
        }
        register_buffer(_m, source.GetBufferOrNull(_m));
        register_buffer(_v, source.GetBufferOrNull(_v));
        train(source.training);
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
