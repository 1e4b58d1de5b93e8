using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Torch.Modules;

public sealed class MaxPool2d(long kernelSize, long? stride = null, long padding = 0, bool ceilMode = false)
    : nn.Module<Tensor, Tensor>("MaxPool2d")
{
    public long kernel_size { get; } = kernelSize;
    public long stride { get; } = stride ?? kernelSize;
    public long padding { get; } = padding;
    public bool ceil_mode { get; } = ceilMode;
    public override Tensor forward(Tensor x) =>
        F.max_pool2d(x, new[] { kernel_size, kernel_size }, new[] { stride, stride }, new[] { padding, padding }, null, ceil_mode);
}

public sealed class AvgPool2d(long kernelSize, long? stride = null, long padding = 0) : nn.Module<Tensor, Tensor>("AvgPool2d")
{
    public long kernel_size { get; } = kernelSize;
    public long stride { get; } = stride ?? kernelSize;
    public long padding { get; } = padding;
    public override Tensor forward(Tensor x) =>
        F.avg_pool2d(x, new[] { kernel_size, kernel_size }, new[] { stride, stride }, new[] { padding, padding });
}

public sealed class AdaptiveAvgPool2d(long outputSize) : nn.Module<Tensor, Tensor>("AdaptiveAvgPool2d")
{
    public long output_size { get; } = outputSize;
    public override Tensor forward(Tensor x) => F.adaptive_avg_pool2d(x, new[] { output_size, output_size });
}

/// <summary>Upsampling by an integer scale factor (nearest or bilinear).</summary>
public sealed class Upsample(double scaleFactor = 2, string mode = "nearest") : nn.Module<Tensor, Tensor>("Upsample")
{
    public double scale_factor { get; } = scaleFactor;
    public string mode { get; } = mode;
    public override Tensor forward(Tensor x) => F.interpolate(x, null, scale_factor, mode);
}
