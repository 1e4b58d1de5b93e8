using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Torch.Modules;

/// <summary>2-D convolution. Channel counts are settable so pruning can shrink the layer in place.</summary>
public sealed class Conv2d : nn.Module<Tensor, Tensor>
{
    public Conv2d(long in_channels, long out_channels, long kernel_size, long stride = 1, long padding = 0,
        long dilation = 1, long groups = 1, bool bias = true, string weightName = "weight", string biasName = "bias")
        : base("Conv2d")
    {
        if (in_channels % groups != 0 || out_channels % groups != 0)
            throw new ArgumentException($"Conv2d: in_channels {in_channels} and out_channels {out_channels} must be divisible by groups {groups}");
        this.in_channels = in_channels;
        this.out_channels = out_channels;
        this.kernel_size = kernel_size;
        this.stride = stride;
        this.padding = padding;
        this.dilation = dilation;
        this.groups = groups;
        WeightName = weightName;
        BiasName = biasName;
        var w = empty(new[] { out_channels, in_channels / groups, kernel_size, kernel_size });
        long fanIn = in_channels / groups * kernel_size * kernel_size;
        nn.init.kaiming_uniform_(w, Math.Sqrt(5));
        register_parameter(weightName, w);
        if (bias)
        {
            var b = empty(new[] { out_channels });
            double bound = 1 / Math.Sqrt(fanIn);
            b.uniform_(-bound, bound);
            register_parameter(biasName, b);
        }
    }

    public long in_channels { get; set; }
    public long out_channels { get; set; }
    public long kernel_size { get; }
    public long stride { get; }
    public long padding { get; }
    public long dilation { get; }
    public long groups { get; set; }
    public string WeightName { get; }
    public string BiasName { get; }

    public Tensor weight => GetParameterOrNull(WeightName)!;
    public Tensor? bias => GetParameterOrNull(BiasName);

    public bool IsDepthwise => groups > 1 && groups == in_channels && groups == out_channels;

    public override Tensor forward(Tensor input) =>
        F.conv2d(input, weight, bias, new[] { stride, stride }, new[] { padding, padding }, new[] { dilation, dilation }, groups);
}
