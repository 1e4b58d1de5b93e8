using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Detection;

/// <summary>Box conversions and intersection-over-union, on tensors (last dimension 4) and on plain boxes.</summary>
public static class BoxUtils
{
    /// <summary>[..., 4] centre x, centre y, width, height → [..., 4] x1, y1, x2, y2.</summary>
    public static Tensor XywhToXyxy(Tensor boxes)
    {
        CheckLastDim(boxes, nameof(boxes));
        using var scope = NewDisposeScope();
        var c = boxes.narrow(-1, 0, 2);
        var half = boxes.narrow(-1, 2, 2) * 0.5;
        return cat(new[] { c - half, c + half }, -1).MoveToOuterDisposeScope();
    }

    /// <summary>[..., 4] x1, y1, x2, y2 → [..., 4] centre x, centre y, width, height.</summary>
    public static Tensor XyxyToXywh(Tensor boxes)
    {
        CheckLastDim(boxes, nameof(boxes));
        using var scope = NewDisposeScope();
        var p1 = boxes.narrow(-1, 0, 2);
        var p2 = boxes.narrow(-1, 2, 2);
        return cat(new[] { (p1 + p2) * 0.5, p2 - p1 }, -1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Pairwise IoU of corner-form boxes: a [..., N, 4] and b [..., M, 4] (same leading dimensions) → [..., N, M].
    /// Empty or inverted boxes have area 0; a pair whose union is 0 has IoU 0.
    /// </summary>
    public static Tensor PairwiseIou(Tensor a, Tensor b)
    {
        CheckLastDim(a, nameof(a));
        CheckLastDim(b, nameof(b));
        if (a.dim() != b.dim())
            throw new ArgumentException($"PairwiseIou: a has {a.dim()} dimensions and b has {b.dim()}; both must be [..., N, 4] and [..., M, 4]");
        using var scope = NewDisposeScope();
        // Work coordinate by coordinate on [..., N, 1] and [..., 1, M] views so that only the
        // [..., N, M] results are materialised, never an [..., N, M, 2] intermediate.
        Tensor Col(Tensor t, long i, long dim) => t.select(-1, i).unsqueeze(dim);
        var ax1 = Col(a, 0, -1); var ay1 = Col(a, 1, -1); var ax2 = Col(a, 2, -1); var ay2 = Col(a, 3, -1);
        var bx1 = Col(b, 0, -2); var by1 = Col(b, 1, -2); var bx2 = Col(b, 2, -2); var by2 = Col(b, 3, -2);
        var iw = (minimum(ax2, bx2) - maximum(ax1, bx1)).clamp_min(0);
        var ih = (minimum(ay2, by2) - maximum(ay1, by1)).clamp_min(0);
        var inter = iw.mul_(ih);
        var areaA = (ax2 - ax1).clamp_min(0) * (ay2 - ay1).clamp_min(0);
        var areaB = (bx2 - bx1).clamp_min(0) * (by2 - by1).clamp_min(0);
        var union = (areaA + areaB).sub_(inter);
        // Where the union is 0 both boxes are empty: define IoU 0 rather than 0/0.
        var safe = union.clamp_min(double.Epsilon);
        return (inter / safe).MoveToOuterDisposeScope();
    }

    /// <summary>IoU of two corner-form boxes (0 when the union is empty).</summary>
    /// <param name="a">First box.</param>
    /// <param name="b">Second box.</param>
    /// <param name="pixelInclusive">Legacy pixel convention: a box from x1 to x2 covers x2 - x1 + 1 pixels
    /// (PaddleDetection's VOC metric and un-normalized NMS).</param>
    public static double Iou(in Box a, in Box b, bool pixelInclusive = false)
    {
        double one = pixelInclusive ? 1 : 0;
        double iw = Math.Min(a.X2, b.X2) - Math.Max(a.X1, b.X1) + one;
        double ih = Math.Min(a.Y2, b.Y2) - Math.Max(a.Y1, b.Y1) + one;
        if (iw <= 0 || ih <= 0) return 0;
        double inter = iw * ih;
        double union = Area(a, pixelInclusive) + Area(b, pixelInclusive) - inter;
        return union > 0 ? inter / union : 0;
    }

    /// <summary>Area of a box, 0 if inverted; with <paramref name="pixelInclusive"/> each side counts one more pixel.</summary>
    public static double Area(in Box box, bool pixelInclusive = false)
    {
        double one = pixelInclusive ? 1 : 0;
        if (box.X2 < box.X1 || box.Y2 < box.Y1) return 0;
        return (box.X2 - box.X1 + one) * (box.Y2 - box.Y1 + one);
    }

    /// <summary>IoU of every box of <paramref name="a"/> with every box of <paramref name="b"/>: [a.Count, b.Count].</summary>
    public static double[,] PairwiseIou(IReadOnlyList<Box> a, IReadOnlyList<Box> b, bool pixelInclusive = false)
    {
        var r = new double[a.Count, b.Count];
        for (int i = 0; i < a.Count; i++)
            for (int j = 0; j < b.Count; j++)
                r[i, j] = Iou(a[i], b[j], pixelInclusive);
        return r;
    }

    private static void CheckLastDim(Tensor t, string name)
    {
        var s = t.shape;
        if (s.Length == 0 || s[^1] != 4)
            throw new ArgumentException($"{name}: expected boxes of shape [..., 4], got [{string.Join(", ", s)}]");
    }
}
