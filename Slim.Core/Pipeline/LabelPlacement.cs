namespace Slim.Pipeline;

/// <summary>A rectangle in pixels: left, top, width, height.</summary>
public readonly record struct PixelRect(int X, int Y, int Width, int Height)
{
    public int Right => X + Width;
    public int Bottom => Y + Height;

    public int OverlapArea(PixelRect o) =>
        Math.Max(0, Math.Min(Right, o.Right) - Math.Max(X, o.X)) * Math.Max(0, Math.Min(Bottom, o.Bottom) - Math.Max(Y, o.Y));
}

/// <summary>
/// Places the labels of detection boxes so that they do not cover one another: each label (best box first) takes
/// the first free spot among above the box's top-left corner, inside it, below the box, inside its bottom, and the
/// same at the right edge, kept inside the image; when those are all taken, the free spot of the image nearest to
/// the first; when the image has none, the spot by the box it overlaps least.
/// </summary>
public static class LabelPlacement
{
    /// <param name="boxes">Boxes (x1, y1, x2, y2) in pixels, in drawing priority (best first).</param>
    /// <param name="sizes">Each label's width and height in pixels.</param>
    /// <param name="imageWidth">Image width.</param>
    /// <param name="imageHeight">Image height.</param>
    /// <returns>Each label's rectangle, in the order of <paramref name="boxes"/>.</returns>
    public static IReadOnlyList<PixelRect> Place(IReadOnlyList<(float X1, float Y1, float X2, float Y2)> boxes,
        IReadOnlyList<(int Width, int Height)> sizes, int imageWidth, int imageHeight)
    {
        if (boxes.Count != sizes.Count) throw new ArgumentException($"{boxes.Count} boxes but {sizes.Count} label sizes");
        var placed = new List<PixelRect>();
        for (int i = 0; i < boxes.Count; i++)
        {
            var (x1, y1, x2, y2) = boxes[i];
            var (w, h) = sizes[i];
            int left = (int)MathF.Round(x1), top = (int)MathF.Round(y1), right = (int)MathF.Round(x2), bottom = (int)MathF.Round(y2);
            var candidates = new[]
            {
                (left, top - h), (left, top), (left, bottom), (left, bottom - h),
                (right - w, top - h), (right - w, top), (right - w, bottom), (right - w, bottom - h),
            }.Select(c => Clamp(new PixelRect(c.Item1, c.Item2, w, h), imageWidth, imageHeight)).ToList();
            bool Free(PixelRect c) => placed.All(p => p.OverlapArea(c) == 0);
            var open = candidates.Where(Free).ToList();
            var best = open.Count > 0 ? open[0]
                : NearestFree(candidates[0], imageWidth, imageHeight, Free) ?? candidates.MinBy(c => placed.Sum(p => p.OverlapArea(c)));
            placed.Add(best);
        }
        return placed;
    }

    // In a crowd every spot by the box is taken: the free spot of the image nearest to the preferred one.
    private static PixelRect? NearestFree(PixelRect preferred, int width, int height, Func<PixelRect, bool> free)
    {
        PixelRect? best = null;
        long bestDistance = long.MaxValue;
        int stepX = Math.Max(2, preferred.Width / 8), stepY = Math.Max(1, preferred.Height / 4);
        for (int y = 0; y + preferred.Height <= height; y += stepY)
            for (int x = 0; x + preferred.Width <= width; x += stepX)
            {
                long dx = x - preferred.X, dy = y - preferred.Y, d = dx * dx + dy * dy;
                if (d >= bestDistance) continue;
                var r = preferred with { X = x, Y = y };
                if (!free(r)) continue;
                best = r;
                bestDistance = d;
            }
        return best;
    }

    private static PixelRect Clamp(PixelRect r, int width, int height) =>
        r with { X = Math.Clamp(r.X, 0, Math.Max(0, width - r.Width)), Y = Math.Clamp(r.Y, 0, Math.Max(0, height - r.Height)) };
}
