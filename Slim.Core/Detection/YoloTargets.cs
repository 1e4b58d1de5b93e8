namespace Slim.Detection;

/// <summary>
/// The training targets of one head output, built on the CPU from the padded ground truth the way
/// PaddleDetection's Gt2YoloTarget does, but kept sparse: only the cells that own a box are listed.
/// </summary>
internal sealed class YoloLevelTargets
{
    /// <summary>Flat index n*A*H*W + a*H*W + j*W + i of each positive cell.</summary>
    public required long[] Index { get; init; }
    /// <summary>[P, 4]: x and y offsets inside the cell, log width and height relative to the anchor.</summary>
    public required float[] Box { get; init; }
    /// <summary>[P]: (2 - w*h) * score, the weight of the x/y/w/h losses.</summary>
    public required float[] BoxWeight { get; init; }
    /// <summary>[P]: the box's gt score (objectness target weight and class-loss weight).</summary>
    public required float[] Score { get; init; }
    /// <summary>[P, C]: class targets (one-hot, or smoothed).</summary>
    public required float[] Classes { get; init; }
    /// <summary>[N * A * H * W]: the score at positive cells, 0 elsewhere.</summary>
    public required float[] DenseScore { get; init; }

    public int Count => Index.Length;
}

/// <summary>Assigns ground-truth boxes to anchors and grid cells (Gt2YoloTarget semantics).</summary>
internal static class YoloTargetBuilder
{
    /// <summary>
    /// Each box with positive width, height and score goes to the anchor (of all anchors) whose shape
    /// overlaps it best, at the cell holding its centre, in the level whose mask contains that anchor.
    /// Ties go to the lower anchor index; a later box in the same cell and anchor overwrites an earlier one's
    /// box, weight and score, while class bits accumulate, as in PaddleDetection.
    /// </summary>
    /// <param name="geometry">Anchor layout.</param>
    /// <param name="boxes">[N*M*4] normalized cx, cy, w, h.</param>
    /// <param name="classes">[N*M] class indices.</param>
    /// <param name="scores">[N*M] box weights.</param>
    /// <param name="n">Batch size.</param>
    /// <param name="m">Boxes per image (padded).</param>
    /// <param name="inputWidth">Network input width, pixels.</param>
    /// <param name="inputHeight">Network input height, pixels.</param>
    /// <param name="grids">(H, W) of each head output.</param>
    /// <param name="labelSmoothEps">0 for one-hot targets.</param>
    public static YoloLevelTargets[] Build(YoloGeometry geometry, float[] boxes, long[] classes, float[] scores, int n, int m,
        int inputWidth, int inputHeight, (int H, int W)[] grids, double labelSmoothEps)
    {
        int c = geometry.NumClasses;
        int levels = geometry.AnchorMasks.Count;
        var anchors = geometry.Anchors;
        // Where each anchor lives: level and position in that level's mask.
        var anchorLevel = new int[anchors.Count];
        var anchorSlot = new int[anchors.Count];
        Array.Fill(anchorLevel, -1);
        for (int l = 0; l < levels; l++)
            for (int s = 0; s < geometry.AnchorMasks[l].Length; s++)
            {
                anchorLevel[geometry.AnchorMasks[l][s]] = l;
                anchorSlot[geometry.AnchorMasks[l][s]] = s;
            }

        var slots = new Dictionary<long, int>[levels];
        var boxT = new List<float>[levels];
        var weightT = new List<float>[levels];
        var scoreT = new List<float>[levels];
        var clsT = new List<bool[]>[levels];
        var dense = new float[levels][];
        for (int l = 0; l < levels; l++)
        {
            slots[l] = new Dictionary<long, int>();
            boxT[l] = new List<float>();
            weightT[l] = new List<float>();
            scoreT[l] = new List<float>();
            clsT[l] = new List<bool[]>();
            dense[l] = new float[(long)n * geometry.AnchorMasks[l].Length * grids[l].H * grids[l].W];
        }

        for (int b = 0; b < n; b++)
            for (int k = 0; k < m; k++)
            {
                int o = b * m + k;
                double gx = boxes[4 * o], gy = boxes[4 * o + 1], gw = boxes[4 * o + 2], gh = boxes[4 * o + 3];
                double score = scores[o];
                if (gw <= 0 || gh <= 0 || score <= 0) continue;
                long cls = classes[o];
                if (cls < 0 || cls >= c)
                    throw new ArgumentException($"YoloV3Loss: GtClasses[{b}, {k}] = {cls} is outside 0..{c - 1} (NumClasses = {c})");

                int best = -1;
                double bestIou = 0;
                for (int a = 0; a < anchors.Count; a++)
                {
                    double aw = anchors[a][0] / inputWidth, ah = anchors[a][1] / inputHeight;
                    double inter = Math.Min(gw, aw) * Math.Min(gh, ah);
                    double iou = inter / (gw * gh + aw * ah - inter);
                    if (iou > bestIou) { bestIou = iou; best = a; }
                }
                if (best < 0) continue;
                int l = anchorLevel[best];
                if (l < 0) continue; // anchor in no mask: no level regresses this box
                int slot = anchorSlot[best];
                var (gridH, gridW) = grids[l];
                // A centre exactly on the right/bottom edge belongs to the last cell.
                int gi = Math.Min((int)(gx * gridW), gridW - 1);
                int gj = Math.Min((int)(gy * gridH), gridH - 1);
                int na = geometry.AnchorMasks[l].Length;
                long flat = (((long)b * na + slot) * gridH + gj) * gridW + gi;

                if (!slots[l].TryGetValue(flat, out int p))
                {
                    p = slots[l].Count;
                    slots[l][flat] = p;
                    for (int q = 0; q < 4; q++) boxT[l].Add(0);
                    weightT[l].Add(0);
                    scoreT[l].Add(0);
                    clsT[l].Add(new bool[c]);
                }
                boxT[l][4 * p] = (float)(gx * gridW - gi);
                boxT[l][4 * p + 1] = (float)(gy * gridH - gj);
                boxT[l][4 * p + 2] = (float)Math.Log(gw * inputWidth / anchors[best][0]);
                boxT[l][4 * p + 3] = (float)Math.Log(gh * inputHeight / anchors[best][1]);
                weightT[l][p] = (float)((2.0 - gw * gh) * score);
                scoreT[l][p] = (float)score;
                clsT[l][p][cls] = true;
                dense[l][flat] = (float)score;
            }

        var result = new YoloLevelTargets[levels];
        float pos = (float)(1 - labelSmoothEps), neg = (float)labelSmoothEps;
        for (int l = 0; l < levels; l++)
        {
            var index = new long[slots[l].Count];
            foreach (var (flat, p) in slots[l]) index[p] = flat;
            var cls = new float[index.Length * c];
            for (int p = 0; p < index.Length; p++)
                for (int q = 0; q < c; q++)
                    cls[p * c + q] = clsT[l][p][q] ? pos : neg;
            result[l] = new YoloLevelTargets
            {
                Index = index,
                Box = boxT[l].ToArray(),
                BoxWeight = weightT[l].ToArray(),
                Score = scoreT[l].ToArray(),
                Classes = cls,
                DenseScore = dense[l],
            };
        }
        return result;
    }
}
