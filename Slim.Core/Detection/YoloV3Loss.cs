using Slim.Data;
using Slim.Torch;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Detection;

/// <summary>
/// The YOLOv3 training loss with PaddleDetection's semantics (YOLOv3Loss with Gt2YoloTarget targets):
/// each ground-truth box is owned by the best-shaped of all anchors at the cell holding its centre;
/// x/y by sigmoid cross-entropy against the offset in the cell and w/h by L1 on log-space sizes, both
/// weighted by (2 - w*h) * score; objectness by sigmoid cross-entropy on every cell except negatives whose
/// predicted box overlaps a ground truth by more than the ignore threshold; classes by sigmoid
/// cross-entropy on the positives. Each part is summed over cells and boxes, averaged over the batch,
/// and summed over the head outputs.
/// </summary>
public sealed class YoloV3Loss
{
    /// <summary>Creates the loss; the options are validated here.</summary>
    public YoloV3Loss(YoloV3LossOptions options)
    {
        options.Validate();
        Options = options;
    }

    /// <summary>The settings this loss was made with.</summary>
    public YoloV3LossOptions Options { get; }

    /// <summary>The loss of head outputs against a batch's ground truth (input size from the batch's images).</summary>
    public YoloV3LossResult Compute(IReadOnlyList<Tensor> outputs, DetectionBatch batch)
    {
        var s = batch.Images.shape;
        if (s.Length != 4) throw new ArgumentException($"YoloV3Loss: batch images must be [N, 3, H, W], got [{string.Join(", ", s)}]");
        return Compute(outputs, batch.GtBoxes, batch.GtClasses, batch.GtScores, (int)s[3], (int)s[2]);
    }

    /// <summary>
    /// The loss of head outputs [N, A*(5+C), H, W] (in the order of the anchor masks) against padded ground truth:
    /// <paramref name="gtBoxes"/> [N, M, 4] normalized cx, cy, w, h; <paramref name="gtClasses"/> [N, M];
    /// <paramref name="gtScores"/> [N, M] (0 for padding).
    /// </summary>
    public YoloV3LossResult Compute(IReadOnlyList<Tensor> outputs, Tensor gtBoxes, Tensor gtClasses, Tensor gtScores,
        int inputWidth, int inputHeight)
    {
        var geo = Options.Geometry;
        geo.CheckOutputs(outputs, "YoloV3Loss");
        long n = outputs[0].shape[0];
        var bs = gtBoxes.shape;
        if (bs.Length != 3 || bs[0] != n || bs[2] != 4)
            throw new ArgumentException($"YoloV3Loss: GtBoxes has shape [{string.Join(", ", bs)}], expected [{n}, M, 4]");
        long m = bs[1];
        if (!gtClasses.shape.SequenceEqual(new[] { n, m }) || !gtScores.shape.SequenceEqual(new[] { n, m }))
            throw new ArgumentException($"YoloV3Loss: GtClasses [{string.Join(", ", gtClasses.shape)}] and GtScores [{string.Join(", ", gtScores.shape)}] must both be [{n}, {m}]");

        var grids = new (int H, int W)[outputs.Count];
        for (int l = 0; l < outputs.Count; l++)
        {
            var sh = outputs[l].shape;
            grids[l] = ((int)sh[2], (int)sh[3]);
            int stride = geo.DownsampleRatios[l];
            if (sh[2] != inputHeight / stride || sh[3] != inputWidth / stride)
                throw new ArgumentException($"YoloV3Loss: head output {l} is {sh[2]}x{sh[3]} but a {inputWidth}x{inputHeight} input at stride {stride} gives {inputHeight / stride}x{inputWidth / stride}");
        }

        var boxArray = gtBoxes.ToFloatArray();
        var targets = YoloTargetBuilder.Build(geo, boxArray, gtClasses.ToInt64Array(), gtScores.ToFloatArray(),
            (int)n, (int)m, inputWidth, inputHeight, grids, Options.EffectiveLabelSmoothEpsilon);

        using var scope = NewDisposeScope();
        var dtype = outputs[0].dtype;
        var device = outputs[0].device;
        // Ground truth in corner form for the ignore mask, in the outputs' precision. Padding rows (zero size)
        // overlap nothing, so they are dropped here: the IoU work scales with the real boxes, not the padding.
        var gtXyxy = CompactCornerBoxes(boxArray, (int)n, (int)m).to(device, dtype);

        Tensor? xy = null, wh = null, obj = null, cls = null;
        for (int l = 0; l < outputs.Count; l++)
        {
            var (lxy, lwh, lobj, lcls) = LevelLoss(outputs[l], targets[l], gtXyxy, l, dtype, device);
            xy = xy is null ? lxy : xy + lxy;
            wh = wh is null ? lwh : wh + lwh;
            obj = obj is null ? lobj : obj + lobj;
            cls = cls is null ? lcls : cls + lcls;
        }
        var total = xy! + wh! + obj! + cls!;
        return new YoloV3LossResult
        {
            Total = total.MoveToOuterDisposeScope(),
            Xy = xy!.MoveToOuterDisposeScope(),
            Wh = wh!.MoveToOuterDisposeScope(),
            Obj = obj!.MoveToOuterDisposeScope(),
            Cls = cls!.MoveToOuterDisposeScope(),
        };
    }

    private (Tensor xy, Tensor wh, Tensor obj, Tensor cls) LevelLoss(Tensor output, YoloLevelTargets t, Tensor gtXyxy, int level,
        ScalarType dtype, Device device)
    {
        var geo = Options.Geometry;
        var sh = output.shape;
        long n = sh[0], h = sh[2], w = sh[3];
        var mask = geo.AnchorMasks[level];
        long na = mask.Length, c = geo.NumClasses;
        double scale = geo.ScaleXY;

        // [N, A, H, W, 5+C] flattened to one row per (image, anchor, cell).
        var p = output.view(n, na, 5 + c, h, w).permute(0, 1, 3, 4, 2).reshape(n * na * h * w, 5 + c);

        // Objectness on every cell; the targets say which cells are positive and with what score.
        var objLogit = p.select(1, 4).view(n, na * h * w);
        var tobj = tensor(t.DenseScore, n, na * h * w).to(device, dtype);
        var objMask = tobj.gt(0).to(dtype);
        var ignoreKeep = IgnoreMask(p, gtXyxy, level, n, h, w, dtype, device);
        var objWeight = tobj + (1.0 - objMask) * ignoreKeep;
        var objLoss = F.binary_cross_entropy_with_logits(objLogit, objMask, objWeight, F.Reduction.Sum) / n;

        if (t.Count == 0)
        {
            // No box at this level: the regression and class parts are 0 but keep the graph (and dtype) of the outputs.
            var zero = p.sum() * 0.0;
            return (zero, zero.clone(), objLoss, zero.clone());
        }

        var index = tensor(t.Index, t.Count).to(device);
        var pos = p.index_select(0, index);                      // [P, 5+C]
        var tbox = tensor(t.Box, t.Count, 4).to(device, dtype);
        var boxWeight = tensor(t.BoxWeight, t.Count, 1).to(device, dtype);
        var score = tensor(t.Score, t.Count, 1).to(device, dtype);

        var pxy = pos.narrow(1, 0, 2);
        var txy = tbox.narrow(1, 0, 2);
        Tensor xyLoss;
        if (Math.Abs(scale - 1) < 1e-10)
            xyLoss = F.binary_cross_entropy_with_logits(pxy, txy, boxWeight.expand(t.Count, 2), F.Reduction.Sum);
        else
            xyLoss = ((pxy.sigmoid() * scale - 0.5 * (scale - 1) - txy).abs() * boxWeight).sum();
        var whLoss = ((pos.narrow(1, 2, 2) - tbox.narrow(1, 2, 2)).abs() * boxWeight).sum();

        var tcls = tensor(t.Classes, t.Count, c).to(device, dtype);
        var clsLoss = F.binary_cross_entropy_with_logits(pos.narrow(1, 5, c), tcls, score.expand(t.Count, c), F.Reduction.Sum);
        return (xyLoss / n, whLoss / n, objLoss, clsLoss / n);
    }

    /// <summary>The boxes with positive size of each image, corner form, padded to the largest count: [N, K, 4].</summary>
    private static Tensor CompactCornerBoxes(float[] boxes, int n, int m)
    {
        var perImage = new List<double>[n];
        int k = 0;
        for (int b = 0; b < n; b++)
        {
            perImage[b] = new List<double>();
            for (int j = 0; j < m; j++)
            {
                int o = 4 * (b * m + j);
                double cx = boxes[o], cy = boxes[o + 1], w = boxes[o + 2], h = boxes[o + 3];
                if (!(w > 0 && h > 0)) continue;
                perImage[b].AddRange(new[] { cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5 });
            }
            k = Math.Max(k, perImage[b].Count / 4);
        }
        var data = new double[n * k * 4];
        for (int b = 0; b < n; b++) perImage[b].CopyTo(data, b * k * 4);
        return tensor(data, n, k, 4);
    }

    /// <summary>
    /// 1 where a cell's predicted box overlaps no ground truth of its image by more than the ignore threshold,
    /// else 0: [N, A*H*W], computed without gradient.
    /// </summary>
    private Tensor IgnoreMask(Tensor p, Tensor gtXyxy, int level, long n, long h, long w, ScalarType dtype, Device device)
    {
        using var _ = no_grad();
        var geo = Options.Geometry;
        var mask = geo.AnchorMasks[level];
        long na = mask.Length;
        if (gtXyxy.shape[1] == 0) return ones(new[] { n, na * h * w }, dtype, device);
        double scale = geo.ScaleXY, stride = geo.DownsampleRatios[level];
        var raw = p.narrow(1, 0, 4).view(n, na, h, w, 4);
        var gx = arange(w, dtype, device).view(1, 1, 1, w);
        var gy = arange(h, dtype, device).view(1, 1, h, 1);
        var aw = tensor(mask.Select(a => geo.Anchors[a][0]).ToArray(), 1, na, 1, 1).to(device, dtype);
        var ah = tensor(mask.Select(a => geo.Anchors[a][1]).ToArray(), 1, na, 1, 1).to(device, dtype);
        var cx = (raw.select(4, 0).sigmoid() * scale - 0.5 * (scale - 1) + gx) / w;
        var cy = (raw.select(4, 1).sigmoid() * scale - 0.5 * (scale - 1) + gy) / h;
        var bw = raw.select(4, 2).exp() * aw / (stride * w);
        var bh = raw.select(4, 3).exp() * ah / (stride * h);
        var pred = stack(new[] { cx - bw * 0.5, cy - bh * 0.5, cx + bw * 0.5, cy + bh * 0.5 }, -1).view(n, na * h * w, 4);
        var iou = BoxUtils.PairwiseIou(pred, gtXyxy);            // [N, A*H*W, M]
        var best = iou.max(2).values;
        return best.le(Options.IgnoreThreshold).to(dtype);
    }
}
