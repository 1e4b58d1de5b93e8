using Slim.Detection;

namespace Slim.Core.Tests.Detection;

/// <summary>
/// A deliberately naive, loop-by-loop restatement of PaddleDetection's YOLOv3 loss (dense Gt2YoloTarget
/// targets of shape [N, A, 6 + C, H, W], then the per-element formulas), used to check the vectorised loss.
/// </summary>
internal static class YoloLossReference
{
    public static (double Xy, double Wh, double Obj, double Cls) Compute(YoloV3LossOptions o, double[][] outputs,
        (int H, int W)[] grids, int n, float[] boxes, long[] classes, float[] scores, int m, int inW, int inH)
    {
        var g = o.Geometry;
        int c = g.NumClasses;
        double eps = o.EffectiveLabelSmoothEpsilon;
        double xyS = 0, whS = 0, objS = 0, clsS = 0;
        for (int l = 0; l < outputs.Length; l++)
        {
            var mask = g.AnchorMasks[l];
            int na = mask.Length, gh = grids[l].H, gw = grids[l].W, stride = g.DownsampleRatios[l];
            // Dense target like Gt2YoloTarget: [N][A][6 + C][H][W].
            var t = new double[n, na, 6 + c, gh, gw];
            for (int b = 0; b < n; b++)
                for (int k = 0; k < m; k++)
                {
                    int q = b * m + k;
                    double x = boxes[4 * q], y = boxes[4 * q + 1], w = boxes[4 * q + 2], h = boxes[4 * q + 3];
                    if (w <= 0 || h <= 0 || scores[q] <= 0) continue;
                    int best = -1; double bestIou = 0;
                    for (int a = 0; a < g.Anchors.Count; a++)
                    {
                        double aw = g.Anchors[a][0] / inW, ah = g.Anchors[a][1] / inH;
                        double inter = Math.Min(w, aw) * Math.Min(h, ah);
                        double iou = inter / (w * h + aw * ah - inter);
                        if (iou > bestIou) { bestIou = iou; best = a; }
                    }
                    int slot = Array.IndexOf(mask, best);
                    if (slot < 0) continue;
                    int gi = (int)(x * gw), gj = (int)(y * gh);
                    t[b, slot, 0, gj, gi] = x * gw - gi;
                    t[b, slot, 1, gj, gi] = y * gh - gj;
                    t[b, slot, 2, gj, gi] = Math.Log(w * inW / g.Anchors[best][0]);
                    t[b, slot, 3, gj, gi] = Math.Log(h * inH / g.Anchors[best][1]);
                    t[b, slot, 4, gj, gi] = 2.0 - w * h;
                    t[b, slot, 5, gj, gi] = scores[q];
                    t[b, slot, 6 + classes[q], gj, gi] = 1;
                }
            var p = outputs[l];
            double P(int b, int a, int ch, int j, int i) => p[((((long)b * na + a) * (5 + c) + ch) * gh + j) * gw + i];
            for (int b = 0; b < n; b++)
            {
                double xy = 0, wh = 0, ob = 0, cl = 0;
                for (int a = 0; a < na; a++)
                    for (int j = 0; j < gh; j++)
                        for (int i = 0; i < gw; i++)
                        {
                            double tobj = t[b, a, 5, j, i], w8 = t[b, a, 4, j, i] * tobj;
                            double sx = g.ScaleXY * Sig(P(b, a, 0, j, i)) - 0.5 * (g.ScaleXY - 1);
                            double sy = g.ScaleXY * Sig(P(b, a, 1, j, i)) - 0.5 * (g.ScaleXY - 1);
                            if (Math.Abs(g.ScaleXY - 1) < 1e-10)
                                xy += w8 * (Bce(sx, t[b, a, 0, j, i]) + Bce(sy, t[b, a, 1, j, i]));
                            else
                                xy += w8 * (Math.Abs(sx - t[b, a, 0, j, i]) + Math.Abs(sy - t[b, a, 1, j, i]));
                            wh += w8 * (Math.Abs(P(b, a, 2, j, i) - t[b, a, 2, j, i]) + Math.Abs(P(b, a, 3, j, i) - t[b, a, 3, j, i]));
                            // Ignore mask: best IoU of this cell's decoded box with the image's boxes.
                            double cx = (sx + i) / gw, cy = (sy + j) / gh;
                            double bw = Math.Exp(P(b, a, 2, j, i)) * g.Anchors[mask[a]][0] / (stride * gw);
                            double bh = Math.Exp(P(b, a, 3, j, i)) * g.Anchors[mask[a]][1] / (stride * gh);
                            var pb = Box.FromCenter(cx, cy, bw, bh);
                            double maxIou = 0;
                            for (int k = 0; k < m; k++)
                            {
                                int q = b * m + k;
                                var gb = Box.FromCenter(boxes[4 * q], boxes[4 * q + 1], boxes[4 * q + 2], boxes[4 * q + 3]);
                                maxIou = Math.Max(maxIou, BoxUtils.Iou(pb, gb));
                            }
                            double keep = maxIou <= o.IgnoreThreshold ? 1 : 0;
                            double objMask = tobj > 0 ? 1 : 0;
                            double lo = BceLogits(P(b, a, 4, j, i), objMask);
                            ob += lo * tobj + lo * (1 - objMask) * keep;
                            for (int k = 0; k < c; k++)
                            {
                                double tc = t[b, a, 6 + k, j, i] > 0 ? 1 - eps : eps;
                                cl += BceLogits(P(b, a, 5 + k, j, i), tc) * tobj;
                            }
                        }
                xyS += xy / n; whS += wh / n; objS += ob / n; clsS += cl / n;
            }
        }
        return (xyS, whS, objS, clsS);
    }

    public static double Sig(double z) => 1 / (1 + Math.Exp(-z));
    public static double Bce(double p, double t) => -(t * Math.Log(p) + (1 - t) * Math.Log(1 - p));
    public static double BceLogits(double z, double t) => Math.Max(z, 0) - z * t + Math.Log(1 + Math.Exp(-Math.Abs(z)));
}
