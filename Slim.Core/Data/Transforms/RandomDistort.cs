namespace Slim.Data.Transforms;

/// <summary>
/// Photometric jitter after PaddleDetection's RandomDistort (YOLOv3 setting: brightness, contrast,
/// saturation and hue, each skipped with probability <see cref="SkipProbability"/>, applied in a random
/// order). Two deliberate differences: hue is a YIQ rotation by an angle in degrees (PaddleDetection
/// multiplies its [-18, 18] range by π, which makes the rotation effectively uniform over the circle),
/// and brightness adds a delta in pixel units (PaddleDetection adds 0.5-1.5 to 0-255 values, a no-op).
/// Values are clamped to 0-255 when written back to the 8-bit image.
/// </summary>
public sealed class RandomDistort : IDetectionTransform
{
    /// <summary>Hue rotation range in degrees.</summary>
    public (double Low, double High) Hue { get; init; } = (-18, 18);
    /// <summary>Saturation factor range (1 = unchanged).</summary>
    public (double Low, double High) Saturation { get; init; } = (0.5, 1.5);
    /// <summary>Contrast factor range (multiplies the pixel values).</summary>
    public (double Low, double High) Contrast { get; init; } = (0.5, 1.5);
    /// <summary>Brightness delta range in pixel units.</summary>
    public (double Low, double High) Brightness { get; init; } = (-32, 32);
    /// <summary>Probability of skipping each of the four distortions.</summary>
    public double SkipProbability { get; init; } = 0.5;

    /// <inheritdoc/>
    public void Apply(TransformSample sample, Random rng)
    {
        var img = sample.Image;
        if (img.Channels != 3) throw new ArgumentException("RandomDistort needs an RGB image");
        var order = new[] { 0, 1, 2, 3 };
        rng.Shuffle(order);
        // Decide every step up front so the number of random draws does not depend on the pixels.
        var steps = new List<(int Kind, double Delta)>();
        foreach (var k in order)
        {
            bool skip = rng.NextDouble() < SkipProbability;
            var (lo, hi) = k switch { 0 => Brightness, 1 => Contrast, 2 => Saturation, _ => Hue };
            double delta = lo + rng.NextDouble() * (hi - lo);
            if (!skip) steps.Add((k, delta));
        }
        if (steps.Count == 0) return;

        var px = img.Pixels;
        var f = new float[px.Length];
        for (int i = 0; i < px.Length; i++) f[i] = px[i];
        foreach (var (kind, delta) in steps)
        {
            switch (kind)
            {
                case 0:
                    for (int i = 0; i < f.Length; i++) f[i] += (float)delta;
                    break;
                case 1:
                    for (int i = 0; i < f.Length; i++) f[i] *= (float)delta;
                    break;
                case 2:
                    for (int i = 0; i < f.Length; i += 3)
                    {
                        float gray = 0.299f * f[i] + 0.587f * f[i + 1] + 0.114f * f[i + 2];
                        float d = (float)delta, g = gray * (1 - d);
                        f[i] = f[i] * d + g; f[i + 1] = f[i + 1] * d + g; f[i + 2] = f[i + 2] * d + g;
                    }
                    break;
                default:
                    HueRotate(f, delta * Math.PI / 180);
                    break;
            }
        }
        for (int i = 0; i < px.Length; i++) px[i] = (byte)Math.Clamp((int)MathF.Round(f[i]), 0, 255);
    }

    // Rotates chroma in YIQ space: RGB -> YIQ, rotate (I, Q), back to RGB, as one 3x3 matrix.
    private static void HueRotate(float[] f, double angle)
    {
        double u = Math.Cos(angle), w = Math.Sin(angle);
        double[,] toYiq = { { 0.299, 0.587, 0.114 }, { 0.596, -0.274, -0.321 }, { 0.211, -0.523, 0.311 } };
        double[,] toRgb = { { 1.0, 0.956, 0.621 }, { 1.0, -0.272, -0.647 }, { 1.0, -1.107, 1.705 } };
        double[,] rot = { { 1, 0, 0 }, { 0, u, -w }, { 0, w, u } };
        var m = Mul(Mul(toRgb, rot), toYiq);
        float m00 = (float)m[0, 0], m01 = (float)m[0, 1], m02 = (float)m[0, 2];
        float m10 = (float)m[1, 0], m11 = (float)m[1, 1], m12 = (float)m[1, 2];
        float m20 = (float)m[2, 0], m21 = (float)m[2, 1], m22 = (float)m[2, 2];
        for (int i = 0; i < f.Length; i += 3)
        {
            float r = f[i], g = f[i + 1], b = f[i + 2];
            f[i] = m00 * r + m01 * g + m02 * b;
            f[i + 1] = m10 * r + m11 * g + m12 * b;
            f[i + 2] = m20 * r + m21 * g + m22 * b;
        }
    }

    private static double[,] Mul(double[,] a, double[,] b)
    {
        var c = new double[3, 3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 3; k++) c[i, j] += a[i, k] * b[k, j];
        return c;
    }
}
