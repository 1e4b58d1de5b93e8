namespace Slim.Detection;

/// <summary>An axis-aligned box in corner form (x1, y1) top-left, (x2, y2) bottom-right.</summary>
public readonly record struct Box(double X1, double Y1, double X2, double Y2)
{
    /// <summary>Width, or 0 for an inverted box.</summary>
    public double Width => Math.Max(0, X2 - X1);

    /// <summary>Height, or 0 for an inverted box.</summary>
    public double Height => Math.Max(0, Y2 - Y1);

    /// <summary>Width times height (0 for an empty or inverted box).</summary>
    public double Area => Width * Height;

    /// <summary>The box from its top-left corner and size (COCO's [x, y, w, h]).</summary>
    public static Box FromXywh(double x, double y, double w, double h) => new(x, y, x + w, y + h);

    /// <summary>The box from its centre and size.</summary>
    public static Box FromCenter(double cx, double cy, double w, double h) => new(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
}
