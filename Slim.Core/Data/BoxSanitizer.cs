namespace Slim.Data;

/// <summary>Clips annotated boxes to their image and drops the ones left without area, counting both.</summary>
internal static class BoxSanitizer
{
    /// <summary>
    /// Clips each box to [0, width] x [0, height]; keeps it when it still has positive width and height.
    /// </summary>
    public static List<BoxAnnotation> Sanitize(IEnumerable<BoxAnnotation> boxes, int width, int height, string where,
        DatasetReport report, Action<string>? log)
    {
        var kept = new List<BoxAnnotation>();
        foreach (var b in boxes)
        {
            var c = b with
            {
                X1 = Math.Clamp(b.X1, 0, width), Y1 = Math.Clamp(b.Y1, 0, height),
                X2 = Math.Clamp(b.X2, 0, width), Y2 = Math.Clamp(b.Y2, 0, height),
            };
            if (!(c.X2 > c.X1 && c.Y2 > c.Y1))
            {
                report.DroppedBoxes++;
                report.Warn($"{where}: dropped degenerate box [{b.X1}, {b.Y1}, {b.X2}, {b.Y2}] (no area inside the {width}x{height} image)", log);
                continue;
            }
            if (c != b)
            {
                report.ClippedBoxes++;
                report.Warn($"{where}: clipped box [{b.X1}, {b.Y1}, {b.X2}, {b.Y2}] to the {width}x{height} image", log);
            }
            kept.Add(c);
        }
        return kept;
    }
}
