namespace Slim.Detection;

/// <summary>How <see cref="VocEvaluator"/> turns a precision/recall curve into AP.</summary>
public enum VocApMethod
{
    /// <summary>VOC2007: mean over recall 0, 0.1, …, 1 of the best precision at that recall or more.</summary>
    ElevenPoint,
    /// <summary>PaddleDetection's "integral": the sum of precision times each recall step, without the precision envelope.</summary>
    Integral,
    /// <summary>VOC2010+ devkit: the area under the monotone precision envelope.</summary>
    Area,
}

/// <summary>Settings of <see cref="VocEvaluator"/> (defaults: PaddleDetection's VOC metric).</summary>
public sealed record VocEvaluatorOptions
{
    /// <summary>A detection is a hit when its best same-class IoU exceeds this (strictly).</summary>
    public double IouThreshold { get; init; } = 0.5;

    /// <summary>The AP formula.</summary>
    public VocApMethod Method { get; init; } = VocApMethod.ElevenPoint;

    /// <summary>Count difficult ground truth like any other (false: ignore it and the detections it attracts).</summary>
    public bool EvaluateDifficult { get; init; }

    /// <summary>VOC's pixel convention for IoU: a box from x1 to x2 spans x2 - x1 + 1 pixels.</summary>
    public bool PixelInclusive { get; init; } = true;
}

/// <summary>The result of a VOC evaluation.</summary>
public sealed record VocEvaluation
{
    /// <summary>Mean AP over the classes that have (non-difficult) ground truth.</summary>
    public required double MeanAp { get; init; }

    /// <summary>AP of each class that has ground truth (0 for such a class without detections).</summary>
    public required IReadOnlyDictionary<int, double> PerClassAp { get; init; }

    /// <summary>Number of counted ground-truth boxes per class.</summary>
    public required IReadOnlyDictionary<int, int> GroundTruthCounts { get; init; }

    /// <summary>The IoU threshold and method used.</summary>
    public required VocEvaluatorOptions Options { get; init; }
}

/// <summary>
/// Pascal VOC mAP with PaddleDetection's semantics: within an image, each detection (best score first)
/// takes the same-class ground truth it overlaps most; above the IoU threshold it is a hit the first time
/// that ground truth is taken and a false positive after; a detection whose best match is a difficult box
/// is ignored; below the threshold it is a false positive. Then per class, all detections by score.
/// </summary>
public static class VocEvaluator
{
    /// <summary>Evaluates detections against ground truth.</summary>
    public static VocEvaluation Evaluate(IReadOnlyList<GroundTruthBox> groundTruth, IReadOnlyList<DetectedBox> detections,
        VocEvaluatorOptions? options = null)
    {
        options ??= new VocEvaluatorOptions();
        if (!(options.IouThreshold >= 0 && options.IouThreshold < 1))
            throw new ArgumentException($"VocEvaluatorOptions.IouThreshold must be in [0, 1), got {options.IouThreshold}");

        var counts = new Dictionary<int, int>();
        foreach (var g in groundTruth)
            if (options.EvaluateDifficult || !g.IsDifficult)
                counts[g.ClassId] = counts.GetValueOrDefault(g.ClassId) + 1;

        var gtByImage = groundTruth.GroupBy(g => g.ImageId).ToDictionary(g => g.Key, g => g.ToList());
        var dtByImage = detections.GroupBy(d => d.ImageId).ToDictionary(g => g.Key, g => g.ToList());
        var hits = new Dictionary<int, List<(float Score, bool Hit)>>();
        foreach (var image in dtByImage.Keys.OrderBy(i => i))
        {
            var gts = gtByImage.GetValueOrDefault(image) ?? new List<GroundTruthBox>();
            var taken = new bool[gts.Count];
            foreach (var d in dtByImage[image].OrderByDescending(d => d.Score))
            {
                int best = -1;
                double bestIou = -1;
                for (int i = 0; i < gts.Count; i++)
                {
                    if (gts[i].ClassId != d.ClassId) continue;
                    double iou = BoxUtils.Iou(d.Box, gts[i].Box, options.PixelInclusive);
                    if (iou > bestIou) { bestIou = iou; best = i; }
                }
                var list = hits.TryGetValue(d.ClassId, out var l) ? l : hits[d.ClassId] = new List<(float, bool)>();
                if (best >= 0 && bestIou > options.IouThreshold)
                {
                    if (!options.EvaluateDifficult && gts[best].IsDifficult) continue;
                    list.Add((d.Score, !taken[best]));
                    taken[best] = true;
                }
                else list.Add((d.Score, false));
            }
        }

        var perClass = new Dictionary<int, double>();
        foreach (var (cls, count) in counts.OrderBy(c => c.Key))
        {
            var list = hits.GetValueOrDefault(cls);
            if (list is null || list.Count == 0) { perClass[cls] = 0; continue; }
            var sorted = list.OrderByDescending(x => x.Score).ToArray();
            var precision = new double[sorted.Length];
            var recall = new double[sorted.Length];
            int tp = 0, fp = 0;
            for (int i = 0; i < sorted.Length; i++)
            {
                if (sorted[i].Hit) tp++; else fp++;
                precision[i] = (double)tp / (tp + fp);
                recall[i] = (double)tp / count;
            }
            perClass[cls] = options.Method switch
            {
                VocApMethod.ElevenPoint => ElevenPoint(precision, recall),
                VocApMethod.Integral => Integral(precision, recall),
                _ => AreaUnderEnvelope(precision, recall),
            };
        }
        return new VocEvaluation
        {
            MeanAp = perClass.Count == 0 ? 0 : perClass.Values.Average(),
            PerClassAp = perClass,
            GroundTruthCounts = counts,
            Options = options,
        };
    }

    private static double ElevenPoint(double[] precision, double[] recall)
    {
        double sum = 0;
        for (int j = 0; j <= 10; j++)
        {
            double t = j / 10.0, best = 0;
            for (int i = 0; i < precision.Length; i++)
                if (recall[i] >= t) best = Math.Max(best, precision[i]);
            sum += best;
        }
        return sum / 11;
    }

    private static double Integral(double[] precision, double[] recall)
    {
        double ap = 0, prev = 0;
        for (int i = 0; i < precision.Length; i++)
        {
            double gap = Math.Abs(recall[i] - prev);
            if (gap > 1e-6)
            {
                ap += precision[i] * gap;
                prev = recall[i];
            }
        }
        return ap;
    }

    private static double AreaUnderEnvelope(double[] precision, double[] recall)
    {
        int n = precision.Length;
        var mrec = new double[n + 2];
        var mpre = new double[n + 2];
        mrec[n + 1] = 1;
        for (int i = 0; i < n; i++) { mrec[i + 1] = recall[i]; mpre[i + 1] = precision[i]; }
        for (int i = n; i >= 0; i--) mpre[i] = Math.Max(mpre[i], mpre[i + 1]);
        double ap = 0;
        for (int i = 0; i <= n; i++)
            if (mrec[i + 1] != mrec[i]) ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
        return ap;
    }
}
