using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Slim.Detection;

/// <summary>
/// COCO bbox evaluation with exactly pycocotools' COCOeval semantics: per image and class, detections
/// sorted by score (ties in input order) and capped at 100; greedy matching at IoU thresholds
/// 0.50:0.05:0.95, each detection taking the best still-free ground truth (crowd regions match any number
/// of detections with IoU = intersection / detection area, and such matches count neither as hits nor as
/// misses); ground truth outside an area range is ignored, and so are unmatched detections outside it;
/// precision made monotone and read at 101 recall points; mean over thresholds, points and classes,
/// skipping undefined entries.
/// </summary>
public static class CocoEvaluator
{
    private const int NumRecall = 101;
    private static readonly int[] MaxDets = { 1, 10, 100 };
    private static readonly (double Lo, double Hi)[] AreaRanges =
        { (0, 1e10), (0, 32 * 32), (32 * 32, 96 * 96), (96 * 96, 1e10) };

    /// <summary>IoU thresholds 0.50, 0.55, …, 0.95, computed as numpy.linspace computes them (so 0.75 is bit-exact).</summary>
    internal static readonly double[] IouThresholds = Linspace(0.5, 0.95, 10);
    private static readonly double[] RecallThresholds = Linspace(0.0, 1.0, NumRecall);

    private static double[] Linspace(double start, double stop, int num)
    {
        var r = new double[num];
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) r[i] = i * step + start;
        r[^1] = stop;
        return r;
    }

    /// <summary>Evaluates detections against ground truth.</summary>
    /// <param name="groundTruth">All ground-truth boxes (crowd regions included).</param>
    /// <param name="detections">All detections.</param>
    /// <param name="imageIds">Images to evaluate (null: every image named by either list). Detections on an
    /// image without ground truth count as false positives.</param>
    /// <param name="classIds">Classes to evaluate (null: every class named by either list).</param>
    public static CocoEvaluation Evaluate(IReadOnlyList<GroundTruthBox> groundTruth, IReadOnlyList<DetectedBox> detections,
        IEnumerable<long>? imageIds = null, IEnumerable<int>? classIds = null)
    {
        var images = (imageIds ?? groundTruth.Select(g => g.ImageId).Concat(detections.Select(d => d.ImageId))).Distinct().OrderBy(i => i).ToArray();
        var classes = (classIds ?? groundTruth.Select(g => g.ClassId).Concat(detections.Select(d => d.ClassId))).Distinct().OrderBy(c => c).ToArray();
        var imageSet = images.ToHashSet();
        var classSet = classes.ToHashSet();

        var gtBy = new Dictionary<(long, int), List<GroundTruthBox>>();
        foreach (var g in groundTruth)
        {
            if (!imageSet.Contains(g.ImageId) || !classSet.Contains(g.ClassId)) continue;
            Bucket(gtBy, (g.ImageId, g.ClassId)).Add(g);
        }
        var dtBy = new Dictionary<(long, int), List<DetectedBox>>();
        foreach (var d in detections)
        {
            if (!imageSet.Contains(d.ImageId) || !classSet.Contains(d.ClassId)) continue;
            Bucket(dtBy, (d.ImageId, d.ClassId)).Add(d);
        }

        int T = IouThresholds.Length, A = AreaRanges.Length, M = MaxDets.Length, K = classes.Length;
        var precision = new double[T, NumRecall, K, A, M];
        var recall = new double[T, K, A, M];
        // Undefined (no ground truth to find) until accumulated: pycocotools' -1.
        MemoryMarshal.CreateSpan(ref Unsafe.As<byte, double>(ref MemoryMarshal.GetArrayDataReference(precision)), precision.Length).Fill(-1);
        MemoryMarshal.CreateSpan(ref Unsafe.As<byte, double>(ref MemoryMarshal.GetArrayDataReference(recall)), recall.Length).Fill(-1);

        for (int k = 0; k < K; k++)
        {
            // Per image (ascending id), per area range: the image's evaluation, or null when it has neither gt nor dt.
            var perImage = new List<ImageEval[]>();
            foreach (var img in images)
            {
                gtBy.TryGetValue((img, classes[k]), out var gts);
                dtBy.TryGetValue((img, classes[k]), out var dts);
                if ((gts?.Count ?? 0) == 0 && (dts?.Count ?? 0) == 0) continue;
                perImage.Add(EvaluateImage(gts ?? new(), dts ?? new()));
            }
            if (perImage.Count == 0) continue;
            for (int a = 0; a < A; a++)
                for (int m = 0; m < M; m++)
                    Accumulate(perImage, a, MaxDets[m], precision, recall, k, m);
        }

        double Summ(bool ap, int? iouIndex, int area, int maxDetIndex)
        {
            double sum = 0;
            int count = 0;
            for (int t = 0; t < T; t++)
            {
                if (iouIndex is int ti && t != ti) continue;
                for (int k = 0; k < K; k++)
                {
                    if (ap)
                    {
                        for (int r = 0; r < NumRecall; r++)
                            if (precision[t, r, k, area, maxDetIndex] > -1) { sum += precision[t, r, k, area, maxDetIndex]; count++; }
                    }
                    else if (recall[t, k, area, maxDetIndex] > -1) { sum += recall[t, k, area, maxDetIndex]; count++; }
                }
            }
            return count == 0 ? -1 : sum / count;
        }

        var stats = new[]
        {
            Summ(true, null, 0, 2), Summ(true, 0, 0, 2), Summ(true, 5, 0, 2),
            Summ(true, null, 1, 2), Summ(true, null, 2, 2), Summ(true, null, 3, 2),
            Summ(false, null, 0, 0), Summ(false, null, 0, 1), Summ(false, null, 0, 2),
            Summ(false, null, 1, 2), Summ(false, null, 2, 2), Summ(false, null, 3, 2),
        };
        var perClass = new Dictionary<int, double>();
        for (int k = 0; k < K; k++)
        {
            double sum = 0;
            int count = 0;
            for (int t = 0; t < T; t++)
                for (int r = 0; r < NumRecall; r++)
                    if (precision[t, r, k, 0, 2] > -1) { sum += precision[t, r, k, 0, 2]; count++; }
            perClass[classes[k]] = count == 0 ? -1 : sum / count;
        }
        return new CocoEvaluation { Stats = stats, PerClassAp = perClass };
    }

    /// <summary>Evaluates a COCO results file against a COCO instances annotation file (see <see cref="CocoJson"/>).</summary>
    /// <exception cref="CocoFormatException">A file is malformed, or a result names an image or category the annotations lack.</exception>
    public static CocoEvaluation EvaluateFiles(string annotationsPath, string resultsPath)
    {
        var gt = CocoJson.ReadAnnotations(annotationsPath);
        var dets = CocoJson.ReadResults(resultsPath, gt.Categories, gt.ImageIds, annotationsPath);
        var result = Evaluate(gt.Boxes, dets, gt.ImageIds, Enumerable.Range(0, gt.Categories.Count));
        return result with { ClassNames = gt.Categories.ClassNames };
    }

    /// <summary>One image and class: matches per area range (index = area range).</summary>
    private sealed class ImageEval
    {
        public required double[] Scores;         // sorted descending, at most 100
        public required bool[,] Matched;         // [T, D]
        public required bool[,] Ignored;         // [T, D]
        public required int NonIgnoredGt;
    }

    private static ImageEval[] EvaluateImage(List<GroundTruthBox> gts, List<DetectedBox> dts)
    {
        // Stable sort by score, then cap: pycocotools' mergesort keeps equal scores in input order.
        var dt = dts.OrderByDescending(d => d.Score).Take(MaxDets[^1]).ToArray();
        int D = dt.Length, G = gts.Count, T = IouThresholds.Length;
        var ious = new double[D, G];
        for (int d = 0; d < D; d++)
            for (int g = 0; g < G; g++)
                ious[d, g] = CocoIou(dt[d], gts[g]);
        var dtArea = dt.Select(d => ((double)d.X2 - d.X1) * ((double)d.Y2 - d.Y1)).ToArray();
        var scores = dt.Select(d => (double)d.Score).ToArray();

        var result = new ImageEval[AreaRanges.Length];
        for (int a = 0; a < AreaRanges.Length; a++)
        {
            var (lo, hi) = AreaRanges[a];
            var ignore = gts.Select(g => g.IsCrowd || g.EffectiveArea < lo || g.EffectiveArea > hi).ToArray();
            // Non-ignored ground truth first (stable), so a match to real ground truth is preferred.
            var order = Enumerable.Range(0, G).OrderBy(g => ignore[g] ? 1 : 0).ToArray();
            var gtMatched = new bool[T, G];
            var matched = new bool[T, D];
            var ignored = new bool[T, D];
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++)
                {
                    double best = Math.Min(IouThresholds[t], 1 - 1e-10);
                    int m = -1;
                    for (int oi = 0; oi < G; oi++)
                    {
                        int g = order[oi];
                        if (gtMatched[t, g] && !gts[g].IsCrowd) continue;
                        if (m > -1 && !ignore[m] && ignore[g]) break;
                        if (ious[d, g] < best) continue;
                        best = ious[d, g];
                        m = g;
                    }
                    if (m == -1) continue;
                    ignored[t, d] = ignore[m];
                    matched[t, d] = true;
                    gtMatched[t, m] = true;
                }
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++)
                    if (!matched[t, d] && (dtArea[d] < lo || dtArea[d] > hi)) ignored[t, d] = true;
            result[a] = new ImageEval { Scores = scores, Matched = matched, Ignored = ignored, NonIgnoredGt = ignore.Count(x => !x) };
        }
        return result;
    }

    /// <summary>pycocotools' box IoU; against a crowd region the union is the detection's own area.</summary>
    private static double CocoIou(DetectedBox d, GroundTruthBox g)
    {
        double dx = d.X1, dy = d.Y1, dw = (double)d.X2 - d.X1, dh = (double)d.Y2 - d.Y1;
        double gw = g.X2 - g.X1, gh = g.Y2 - g.Y1;
        double w = Math.Min(dx + dw, g.X1 + gw) - Math.Max(dx, g.X1);
        if (w <= 0) return 0;
        double h = Math.Min(dy + dh, g.Y1 + gh) - Math.Max(dy, g.Y1);
        if (h <= 0) return 0;
        double i = w * h, da = dw * dh;
        double u = g.IsCrowd ? da : da + gw * gh - i;
        return i / u;
    }

    private static void Accumulate(List<ImageEval[]> perImage, int a, int maxDet, double[,,,,] precision, double[,,,] recall, int k, int m)
    {
        int T = IouThresholds.Length;
        var scores = new List<double>();
        var matched = new List<bool[]>();
        var ignored = new List<bool[]>();
        int npig = 0;
        foreach (var e in perImage)
        {
            var ev = e[a];
            int n = Math.Min(maxDet, ev.Scores.Length);
            for (int d = 0; d < n; d++)
            {
                scores.Add(ev.Scores[d]);
                var mt = new bool[T];
                var ig = new bool[T];
                for (int t = 0; t < T; t++) { mt[t] = ev.Matched[t, d]; ig[t] = ev.Ignored[t, d]; }
                matched.Add(mt);
                ignored.Add(ig);
            }
            npig += ev.NonIgnoredGt;
        }
        if (npig == 0) return;
        var inds = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        int nd = inds.Length;
        var rc = new double[nd];
        var pr = new double[nd];
        for (int t = 0; t < T; t++)
        {
            double tp = 0, fp = 0;
            for (int j = 0; j < nd; j++)
            {
                int i = inds[j];
                if (!ignored[i][t]) { if (matched[i][t]) tp++; else fp++; }
                rc[j] = tp / npig;
                pr[j] = tp / (fp + tp + Math.Pow(2, -52));
            }
            recall[t, k, a, m] = nd > 0 ? rc[nd - 1] : 0;
            for (int j = nd - 1; j > 0; j--)
                if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
            int pos = 0;
            for (int r = 0; r < NumRecall; r++)
            {
                // searchsorted(rc, threshold, 'left'): the first point whose recall reaches the threshold.
                while (pos < nd && rc[pos] < RecallThresholds[r]) pos++;
                precision[t, r, k, a, m] = pos < nd ? pr[pos] : 0;
            }
        }
    }

    private static List<T> Bucket<T>(Dictionary<(long, int), List<T>> map, (long, int) key)
    {
        if (!map.TryGetValue(key, out var list)) map[key] = list = new List<T>();
        return list;
    }
}
