namespace Slim.Data.Transforms;

/// <summary>
/// SSD-style IoU-constrained crop after PaddleDetection's RandomCrop: shuffles the IoU thresholds
/// (plus "no crop" when <see cref="AllowNoCrop"/>); for the first threshold that admits one, tries up
/// to <see cref="Attempts"/> crops of random scale and aspect ratio whose best IoU with a ground-truth
/// box reaches it. Boxes whose centre falls outside the crop are removed, the rest clipped and shifted.
/// Images without boxes are left alone.
/// </summary>
public sealed class RandomCrop : IDetectionTransform
{
    /// <summary>Minimum IoU thresholds to choose from.</summary>
    public IReadOnlyList<double> Thresholds { get; init; } = new[] { 0.0, 0.1, 0.3, 0.5, 0.7, 0.9 };
    /// <summary>Crop side scale range relative to the image.</summary>
    public (double Min, double Max) Scaling { get; init; } = (0.3, 1.0);
    /// <summary>Crop aspect ratio (width/height) range.</summary>
    public (double Min, double Max) AspectRatio { get; init; } = (0.5, 2.0);
    /// <summary>Tries per threshold.</summary>
    public int Attempts { get; init; } = 50;
    /// <summary>Whether "keep the whole image" is one of the choices.</summary>
    public bool AllowNoCrop { get; init; } = true;
    /// <summary>Require every box (not just the best one) to reach the threshold.</summary>
    public bool CoverAllBoxes { get; init; }

    /// <inheritdoc/>
    public void Apply(TransformSample sample, Random rng)
    {
        if (sample.Boxes.Count == 0) return;
        var img = sample.Image;
        int h = img.Height, w = img.Width;
        var choices = Thresholds.Select(t => (double?)t).ToList();
        if (AllowNoCrop) choices.Add(null);
        var order = choices.ToArray();
        rng.Shuffle(order);
        foreach (var thresh in order)
        {
            if (thresh is null) return;
            for (int attempt = 0; attempt < Attempts; attempt++)
            {
                double scale = Scaling.Min + rng.NextDouble() * (Scaling.Max - Scaling.Min);
                double arLo = Math.Max(AspectRatio.Min, scale * scale), arHi = Math.Min(AspectRatio.Max, 1 / (scale * scale));
                double ar = arLo + rng.NextDouble() * (arHi - arLo);
                int ch = (int)(h * scale / Math.Sqrt(ar)), cw = (int)(w * scale * Math.Sqrt(ar));
                if (ch < 1 || cw < 1) continue;
                int cy = h - ch > 0 ? rng.Next(0, h - ch) : 0, cx = w - cw > 0 ? rng.Next(0, w - cw) : 0;
                var ious = sample.Boxes.Select(b => Iou(b, cx, cy, cx + cw, cy + ch)).ToArray();
                if (ious.Max() < thresh) continue;
                if (CoverAllBoxes && ious.Min() < thresh) continue;
                var kept = new List<BoxAnnotation>();
                foreach (var b in sample.Boxes)
                {
                    float mx = (b.X1 + b.X2) / 2, my = (b.Y1 + b.Y2) / 2;
                    if (!(mx >= cx && mx < cx + cw && my >= cy && my < cy + ch)) continue;
                    var c = b with
                    {
                        X1 = Math.Max(b.X1, cx) - cx, Y1 = Math.Max(b.Y1, cy) - cy,
                        X2 = Math.Min(b.X2, cx + cw) - cx, Y2 = Math.Min(b.Y2, cy + ch) - cy,
                    };
                    if (c.X2 > c.X1 && c.Y2 > c.Y1) kept.Add(c);
                }
                if (kept.Count == 0) continue;
                sample.Image = Crop(img, cx, cy, cw, ch);
                sample.Boxes = kept;
                return;
            }
        }
    }

    /// <summary>The sub-image [x, x+w) x [y, y+h).</summary>
    public static Image Crop(Image img, int x, int y, int w, int h)
    {
        var dst = new byte[w * h * img.Channels];
        int rowBytes = w * img.Channels;
        for (int r = 0; r < h; r++)
            Array.Copy(img.Pixels, ((y + r) * img.Width + x) * img.Channels, dst, r * rowBytes, rowBytes);
        return new Image(w, h, img.Channels, dst);
    }

    private static double Iou(BoxAnnotation b, double x1, double y1, double x2, double y2)
    {
        double iw = Math.Min(b.X2, x2) - Math.Max(b.X1, x1), ih = Math.Min(b.Y2, y2) - Math.Max(b.Y1, y1);
        if (iw <= 0 || ih <= 0) return 0;
        double inter = iw * ih, union = (b.X2 - b.X1) * (double)(b.Y2 - b.Y1) + (x2 - x1) * (y2 - y1) - inter;
        return inter / (union + 1e-10);
    }
}
