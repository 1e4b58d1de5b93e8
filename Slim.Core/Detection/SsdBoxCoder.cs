namespace Slim.Detection;

/// <summary>
/// SSD's box encoding against a prior (PaddleDetection's bbox2delta with weights 1/variance, and SSDBox's decoding):
/// dx = (gx − px) / pw / v0, dy = (gy − py) / ph / v1, dw = ln(gw / pw) / v2, dh = ln(gh / ph) / v3, on centres and sizes
/// of normalized x1, y1, x2, y2 boxes.
/// </summary>
public static class SsdBoxCoder
{
    /// <summary>PaddleDetection's prior_box_var.</summary>
    public static IReadOnlyList<double> DefaultVariances { get; } = [0.1, 0.1, 0.2, 0.2];

    private static (double Cx, double Cy, double W, double H) Centre(ReadOnlySpan<float> b) =>
        ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, b[2] - b[0], b[3] - b[1]);

    /// <summary>The four deltas of <paramref name="box"/> against <paramref name="prior"/> (both x1, y1, x2, y2).</summary>
    public static void Encode(ReadOnlySpan<float> prior, ReadOnlySpan<float> box, Span<float> delta, IReadOnlyList<double>? variances = null)
    {
        var v = variances ?? DefaultVariances;
        var (px, py, pw, ph) = Centre(prior);
        var (gx, gy, gw, gh) = Centre(box);
        delta[0] = (float)((gx - px) / pw / v[0]);
        delta[1] = (float)((gy - py) / ph / v[1]);
        delta[2] = (float)(Math.Log(gw / pw) / v[2]);
        delta[3] = (float)(Math.Log(gh / ph) / v[3]);
    }

    /// <summary>The box (x1, y1, x2, y2) that <paramref name="delta"/> encodes against <paramref name="prior"/>.</summary>
    public static void Decode(ReadOnlySpan<float> prior, ReadOnlySpan<float> delta, Span<float> box, IReadOnlyList<double>? variances = null)
    {
        var v = variances ?? DefaultVariances;
        var (px, py, pw, ph) = Centre(prior);
        double x = px + delta[0] * pw * v[0], y = py + delta[1] * ph * v[1];
        double w = Math.Exp(delta[2] * v[2]) * pw, h = Math.Exp(delta[3] * v[3]) * ph;
        box[0] = (float)(x - w / 2);
        box[1] = (float)(y - h / 2);
        box[2] = (float)(x + w / 2);
        box[3] = (float)(y + h / 2);
    }
}
