namespace Slim.Data.Transforms;

/// <summary>Horizontal mirror with probability <see cref="Probability"/>; a box [x1, x2] becomes [W - x2, W - x1].</summary>
public sealed class RandomFlip : IDetectionTransform
{
    /// <summary>Probability of flipping.</summary>
    public double Probability { get; init; } = 0.5;

    /// <inheritdoc/>
    public void Apply(TransformSample sample, Random rng)
    {
        if (rng.NextDouble() >= Probability) return;
        Flip(sample);
    }

    /// <summary>Mirrors the sample unconditionally.</summary>
    public static void Flip(TransformSample sample)
    {
        var img = sample.Image;
        int w = img.Width, ch = img.Channels;
        var src = img.Pixels;
        var dst = new byte[src.Length];
        for (int y = 0; y < img.Height; y++)
        {
            int row = y * w * ch;
            for (int x = 0; x < w; x++)
                for (int c = 0; c < ch; c++) dst[row + (w - 1 - x) * ch + c] = src[row + x * ch + c];
        }
        sample.Image = new Image(w, img.Height, ch, dst);
        for (int i = 0; i < sample.Boxes.Count; i++)
        {
            var b = sample.Boxes[i];
            sample.Boxes[i] = b with { X1 = w - b.X2, X2 = w - b.X1 };
        }
    }
}
