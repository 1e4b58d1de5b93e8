namespace Slim.Models;

/// <summary>Channel-count arithmetic shared by the architectures.</summary>
public static class Channels
{
    /// <summary>The smallest channel count a width multiplier may produce.</summary>
    public const int Minimum = 8;

    /// <summary>
    /// Scales a channel count by a width multiplier and rounds to the nearest multiple of 8
    /// (never below 8, never more than 10% under the exact value), the rule MobileNetV2/V3 use,
    /// so that scaled layers stay friendly to vectorised kernels. Width 1 leaves multiples of 8 unchanged.
    /// </summary>
    public static int Scale(int channels, double width) => MakeDivisible(channels * width);

    /// <summary>Rounds v to the nearest multiple of divisor, at least minValue, and not below 90% of v.</summary>
    public static int MakeDivisible(double v, int divisor = 8, int? minValue = null)
    {
        int min = minValue ?? divisor;
        int rounded = Math.Max(min, (int)(v + divisor / 2.0) / divisor * divisor);
        if (rounded < 0.9 * v) rounded += divisor;
        return rounded;
    }
}
