namespace Slim.Data.Transforms;

/// <summary>
/// Zoom-out (PaddleDetection's RandomExpand, SSD): with probability 1 - <see cref="SkipProbability"/>,
/// places the image at a random offset on a canvas up to <see cref="MaxRatio"/> times larger in each
/// side, filled with <see cref="Fill"/> (the dataset mean, so the normalized canvas is near zero).
/// Boxes shift by the offset.
/// </summary>
public sealed class RandomExpand : IDetectionTransform
{
    /// <summary>Largest canvas side / image side.</summary>
    public double MaxRatio { get; init; } = 4.0;
    /// <summary>Probability of leaving the sample unchanged.</summary>
    public double SkipProbability { get; init; } = 0.5;
    /// <summary>Canvas colour: ImageNet's mean RGB by default.</summary>
    public Rgb Fill { get; init; } = new(124, 116, 104);

    /// <inheritdoc/>
    public void Apply(TransformSample sample, Random rng)
    {
        if (MaxRatio <= 1.01) throw new ArgumentException($"RandomExpand.MaxRatio must exceed 1.01, got {MaxRatio}");
        bool skip = rng.NextDouble() < SkipProbability;
        double ratio = 1 + rng.NextDouble() * (MaxRatio - 1);
        if (skip) return;
        var img = sample.Image;
        int h = (int)(img.Height * ratio), w = (int)(img.Width * ratio);
        if (h <= img.Height || w <= img.Width) return;
        int y = rng.Next(0, h - img.Height), x = rng.Next(0, w - img.Width);

        var canvas = new Image(w, h, img.Channels);
        var fill = img.Channels == 3 ? new[] { Fill.R, Fill.G, Fill.B } : new[] { Fill.G };
        var dst = canvas.Pixels;
        for (int i = 0; i < dst.Length; i += img.Channels)
            for (int c = 0; c < img.Channels; c++) dst[i + c] = fill[c];
        int rowBytes = img.Width * img.Channels;
        for (int r = 0; r < img.Height; r++)
            Array.Copy(img.Pixels, r * rowBytes, dst, ((y + r) * w + x) * img.Channels, rowBytes);
        sample.Image = canvas;
        for (int i = 0; i < sample.Boxes.Count; i++)
        {
            var b = sample.Boxes[i];
            sample.Boxes[i] = b with { X1 = b.X1 + x, Y1 = b.Y1 + y, X2 = b.X2 + x, Y2 = b.Y2 + y };
        }
    }
}
