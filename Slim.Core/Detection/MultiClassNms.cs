namespace Slim.Detection;

/// <summary>
/// Class-aware non-maximum suppression with PaddleDetection's MultiClassNMS behaviour: per class, the
/// candidates above the score threshold, best first (ties in input order), at most NmsTopK of them, are
/// kept greedily unless they overlap an already kept box by more than the IoU threshold; then the best
/// KeepTopK over all classes survive. The result is grouped by class (ascending), best first within a class.
/// </summary>
public static class MultiClassNms
{
    /// <summary>Suppresses the boxes of one image.</summary>
    /// <param name="imageId">Image id written into each detection.</param>
    /// <param name="boxes">[K * 4] corner-form boxes.</param>
    /// <param name="scores">[K * C] class scores of each box.</param>
    /// <param name="numClasses">C.</param>
    /// <param name="options">Thresholds and limits.</param>
    public static List<DetectedBox> Apply(long imageId, ReadOnlySpan<float> boxes, ReadOnlySpan<float> scores, int numClasses, NmsOptions options)
    {
        options.Validate();
        if (numClasses < 1) throw new ArgumentException($"MultiClassNms: numClasses must be at least 1, got {numClasses}");
        if (boxes.Length % 4 != 0) throw new ArgumentException($"MultiClassNms: boxes has {boxes.Length} values, not a multiple of 4");
        int k = boxes.Length / 4;
        if (scores.Length != k * numClasses)
            throw new ArgumentException($"MultiClassNms: {k} boxes and {numClasses} classes need {k * numClasses} scores, got {scores.Length}");

        var sc = scores.ToArray(); // the ordering lambda cannot capture a span
        var kept = new List<(float Score, int Class, int Index)>();
        var candidates = new List<int>();
        var keptOfClass = new List<Box>();
        for (int c = 0; c < numClasses; c++)
        {
            candidates.Clear();
            for (int i = 0; i < k; i++)
                if (scores[i * numClasses + c] > options.ScoreThreshold) candidates.Add(i);
            if (candidates.Count == 0) continue;
            var cls = c;
            // OrderByDescending is stable: equal scores stay in input order.
            var order = candidates.OrderByDescending(i => sc[i * numClasses + cls]).ToList();
            if (options.NmsTopK > -1 && order.Count > options.NmsTopK) order.RemoveRange(options.NmsTopK, order.Count - options.NmsTopK);
            keptOfClass.Clear();
            foreach (var i in order)
            {
                var box = new Box(boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]);
                bool keep = true;
                foreach (var other in keptOfClass)
                    if (BoxUtils.Iou(box, other, pixelInclusive: !options.Normalized) > options.NmsThreshold) { keep = false; break; }
                if (!keep) continue;
                keptOfClass.Add(box);
                kept.Add((sc[i * numClasses + c], c, i));
                // Any further box of this class scores below KeepTopK kept ones of the same class, so the final
                // cut would drop it: stopping here changes nothing and bounds the work on noisy score maps.
                if (options.KeepTopK > -1 && keptOfClass.Count >= options.KeepTopK) break;
            }
        }

        if (options.KeepTopK > -1 && kept.Count > options.KeepTopK)
            kept = kept.OrderByDescending(t => t.Score).Take(options.KeepTopK)
                .OrderBy(t => t.Class).ThenByDescending(t => t.Score).ToList();

        var result = new List<DetectedBox>(kept.Count);
        foreach (var (score, c, i) in kept)
            result.Add(new DetectedBox(imageId, c, score, boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]));
        return result;
    }
}
