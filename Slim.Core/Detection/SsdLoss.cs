using Slim.Torch;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Detection;

/// <summary>The matching and hard-negative-mining settings of <see cref="SsdLoss"/> (PaddleDetection's SSDLoss defaults).</summary>
public sealed record SsdLossOptions
{
    /// <summary>A prior whose best IoU with a box reaches this is that box's positive.</summary>
    public double OverlapThreshold { get; init; } = 0.5;

    /// <summary>Negatives kept per positive, the hardest first.</summary>
    public double NegPosRatio { get; init; } = 3.0;

    /// <summary>Share of the priors kept as negatives in an image without boxes.</summary>
    public double NegRatioWithoutBoxes { get; init; } = 0.01;

    public double LocWeight { get; init; } = 1.0;
    public double ConfWeight { get; init; } = 1.0;
    public IReadOnlyList<double> Variances { get; init; } = SsdBoxCoder.DefaultVariances;
}

/// <summary>What the matching gives one image: the class of every prior (background = the class count) and the deltas of the positives.</summary>
public sealed record SsdTargets(long[] Labels, float[] Deltas);

/// <summary>
/// The multibox loss as PaddleDetection's SSDLoss computes it: each prior takes the box it overlaps most, as a positive
/// when that IoU reaches the threshold; then each box takes its best prior whatever the IoU (a later box wins a prior two
/// boxes want). Localization: smooth L1 (β 1) of the encoded deltas, summed over the positives; confidence: softmax cross
/// entropy (background the last class) summed over the positives and the hardest negatives, NegPosRatio per positive.
/// Both are divided by the batch's positives (at least 1). PaddleDetection also forces prior 0 to background, a side
/// effect of its zero-padded ground truth; here only real boxes are matched, so no prior is special.
/// </summary>
public static class SsdLoss
{
    /// <summary>
    /// Matches one image's boxes (normalized x1, y1, x2, y2, [G, 4]) and classes to the priors ([P, 4]).
    /// </summary>
    public static SsdTargets Match(float[] priors, float[] boxes, long[] classes, int numClasses, SsdLossOptions? options = null)
    {
        var o = options ?? new SsdLossOptions();
        int p = priors.Length / 4, g = classes.Length;
        if (boxes.Length != 4 * g) throw new ArgumentException($"{boxes.Length / 4} boxes but {g} classes");
        var labels = Enumerable.Repeat((long)numClasses, p).ToArray();
        var owner = Enumerable.Repeat(-1, p).ToArray();
        if (g > 0)
        {
            static List<Box> Boxes(float[] v) => Enumerable.Range(0, v.Length / 4).Select(i => new Box(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3])).ToList();
            var ious = BoxUtils.PairwiseIou(Boxes(boxes), Boxes(priors));
            var best = new double[p];
            var bestPrior = new int[g];
            var bestPriorIou = Enumerable.Repeat(-1.0, g).ToArray();
            for (int j = 0; j < p; j++)
            {
                best[j] = -1;
                for (int i = 0; i < g; i++)
                {
                    double iou = ious[i, j];
                    if (iou > best[j]) (best[j], owner[j]) = (iou, i); // the first box wins a tie, as argmax
                    if (iou > bestPriorIou[i]) (bestPriorIou[i], bestPrior[i]) = (iou, j);
                }
                if (best[j] < o.OverlapThreshold) owner[j] = -1;
            }
            for (int i = 0; i < g; i++) owner[bestPrior[i]] = i;
        }
        var deltas = new float[4 * p];
        for (int j = 0; j < p; j++)
        {
            if (owner[j] < 0) continue;
            if (classes[owner[j]] < 0 || classes[owner[j]] >= numClasses)
                throw new ArgumentException($"box {owner[j]} has class {classes[owner[j]]}, not one of 0…{numClasses - 1}");
            labels[j] = classes[owner[j]];
            SsdBoxCoder.Encode(priors.AsSpan(4 * j, 4), boxes.AsSpan(4 * owner[j], 4), deltas.AsSpan(4 * j, 4), o.Variances);
        }
        return new SsdTargets(labels, deltas);
    }

    /// <summary>
    /// The loss of a batch: <paramref name="locations"/> [N, P, 4] predicted deltas, <paramref name="scores"/> [N, P, C + 1]
    /// logits (background last), one <see cref="SsdTargets"/> per image. Returns the total and its two parts (already
    /// divided by the positives).
    /// </summary>
    public static (Tensor Total, Tensor Loc, Tensor Conf) Compute(Tensor locations, Tensor scores, IReadOnlyList<SsdTargets> targets, SsdLossOptions? options = null)
    {
        var o = options ?? new SsdLossOptions();
        long n = scores.shape[0], p = scores.shape[1], classes = scores.shape[2];
        if (targets.Count != n || targets.Any(t => t.Labels.Length != p))
            throw new ArgumentException($"{targets.Count} target sets for a batch of {n} with {p} priors");
        using var scope = NewDisposeScope();
        var labelArray = targets.SelectMany(t => t.Labels).ToArray();
        var labels = tensor(labelArray, n, p);
        var conf = F.cross_entropy(scores.reshape(-1, classes), labels.reshape(-1), reduction: F.Reduction.None).reshape(n, p);

        // Hard negatives: per image, the background priors of highest loss, NegPosRatio per positive.
        var values = conf.detach().data<float>().ToArray();
        var keep = new float[n * p];
        long positives = 0;
        for (int b = 0; b < n; b++)
        {
            int pos = 0;
            var neg = new List<int>();
            for (int j = 0; j < p; j++)
            {
                if (labelArray[b * p + j] != classes - 1) { keep[b * p + j] = 1; pos++; }
                else neg.Add(j);
            }
            positives += pos;
            double limit = pos > 0 ? Math.Min(pos * o.NegPosRatio, p) : p * o.NegRatioWithoutBoxes;
            var order = neg.OrderByDescending(j => values[b * p + j]).ThenBy(j => j).ToList();
            for (int r = 0; r < order.Count && r < limit; r++) keep[b * p + order[r]] = 1;
        }
        var confSum = (conf * tensor(keep, n, p)).sum() * o.ConfWeight;

        var posMask = labels.ne(classes - 1);
        var deltas = tensor(targets.SelectMany(t => t.Deltas).ToArray(), n, p, 4);
        var locSum = positives == 0
            ? zeros(Array.Empty<long>())
            : F.smooth_l1_loss(locations.masked_select(posMask.unsqueeze(-1).expand(n, p, 4)), deltas.masked_select(posMask.unsqueeze(-1).expand(n, p, 4)),
                F.Reduction.Sum) * o.LocWeight;
        double normalizer = Math.Max(1, positives);
        var loc = locSum / normalizer;
        var c = confSum / normalizer;
        var total = loc + c;
        return (total.MoveToOuterDisposeScope(), loc.MoveToOuterDisposeScope(), c.MoveToOuterDisposeScope());
    }
}
