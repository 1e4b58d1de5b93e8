namespace Slim.Segmentation;

/// <summary>
/// Pixel counts of a semantic segmentation: row = ground-truth class, column = predicted class. Ground-truth pixels
/// labelled <see cref="IgnoreIndex"/> (255 by Cityscapes' and PaddleSeg's convention) are counted apart and score nothing.
/// Accumulates over any number of images; <see cref="Scores"/> turns the counts into IoU and accuracies.
/// </summary>
public sealed class ConfusionMatrix
{
    private readonly long[] _counts;

    /// <summary>An empty matrix for classes 0 … numClasses−1.</summary>
    public ConfusionMatrix(int numClasses, int ignoreIndex = 255)
    {
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "at least one class");
        if (ignoreIndex >= 0 && ignoreIndex < numClasses)
            throw new ArgumentException($"the ignore index {ignoreIndex} is one of the {numClasses} classes; use a label outside 0…{numClasses - 1}", nameof(ignoreIndex));
        NumClasses = numClasses;
        IgnoreIndex = ignoreIndex;
        _counts = new long[numClasses * numClasses];
    }

    /// <summary>Classes counted.</summary>
    public int NumClasses { get; }

    /// <summary>The ground-truth label that marks pixels to leave out.</summary>
    public int IgnoreIndex { get; }

    /// <summary>Ground-truth pixels left out (labelled <see cref="IgnoreIndex"/>).</summary>
    public long IgnoredPixels { get; private set; }

    /// <summary>Pixels counted in the matrix.</summary>
    public long Pixels { get; private set; }

    /// <summary>Pixels of ground-truth class <paramref name="truth"/> predicted as <paramref name="predicted"/>.</summary>
    public long this[int truth, int predicted] => _counts[truth * NumClasses + predicted];

    /// <summary>
    /// Adds one image's labels, row-major, the same length. A ground-truth label other than a class or the ignore index,
    /// or a predicted label that is not a class, is an error naming its position (a wrong class count, most often).
    /// </summary>
    public void Add(ReadOnlySpan<byte> truth, ReadOnlySpan<byte> predicted)
    {
        if (truth.Length != predicted.Length)
            throw new ArgumentException($"{truth.Length} ground-truth labels but {predicted.Length} predicted ones");
        long ignored = 0, counted = 0;
        for (int i = 0; i < truth.Length; i++)
        {
            int t = truth[i];
            if (t == IgnoreIndex)
            {
                ignored++;
                continue;
            }
            int p = predicted[i];
            if (t >= NumClasses) throw new LabelOutOfRangeException(i, t, NumClasses, IgnoreIndex, truth: true);
            if (p >= NumClasses) throw new LabelOutOfRangeException(i, p, NumClasses, IgnoreIndex, truth: false);
            _counts[t * NumClasses + p]++;
            counted++;
        }
        IgnoredPixels += ignored;
        Pixels += counted;
    }

    /// <summary>Adds another matrix's counts (of the same classes) to this one.</summary>
    public void Add(ConfusionMatrix other)
    {
        if (other.NumClasses != NumClasses || other.IgnoreIndex != IgnoreIndex)
            throw new ArgumentException($"a matrix of {other.NumClasses} classes cannot be added to one of {NumClasses}", nameof(other));
        for (int i = 0; i < _counts.Length; i++) _counts[i] += other._counts[i];
        IgnoredPixels += other.IgnoredPixels;
        Pixels += other.Pixels;
    }

    /// <summary>
    /// IoU = TP / (TP + FP + FN) and accuracy (recall) = TP / (TP + FN) per class; a class absent from the ground truth has
    /// neither (null) and does not count in the means, whatever was predicted of it (Cityscapes' convention).
    /// Pixel accuracy is the share of counted pixels predicted right; Cohen's kappa compares it with chance agreement.
    /// </summary>
    public SegmentationScores Scores()
    {
        int n = NumClasses;
        var iou = new double?[n];
        var accuracy = new double?[n];
        var truthPixels = new long[n];
        long right = 0;
        double chance = 0;
        for (int c = 0; c < n; c++)
        {
            long tp = this[c, c], truthCount = 0, predictedCount = 0;
            for (int k = 0; k < n; k++)
            {
                truthCount += this[c, k];
                predictedCount += this[k, c];
            }
            truthPixels[c] = truthCount;
            right += tp;
            chance += (double)truthCount * predictedCount;
            if (truthCount == 0) continue;
            iou[c] = (double)tp / (truthCount + predictedCount - tp);
            accuracy[c] = (double)tp / truthCount;
        }
        double Mean(double?[] v) => v.Any(x => x.HasValue) ? v.Where(x => x.HasValue).Average(x => x!.Value) : 0;
        double total = Pixels;
        double observed = total > 0 ? right / total : 0;
        double expected = total > 0 ? chance / (total * total) : 0;
        return new SegmentationScores
        {
            ClassIou = iou,
            ClassAccuracy = accuracy,
            ClassPixels = truthPixels,
            MeanIou = Mean(iou),
            MeanClassAccuracy = Mean(accuracy),
            PixelAccuracy = observed,
            Kappa = expected < 1 ? (observed - expected) / (1 - expected) : 1,
            Pixels = Pixels,
            IgnoredPixels = IgnoredPixels,
        };
    }
}

/// <summary>A label that is neither a class nor (for the ground truth) the ignore index, at a row-major pixel index.</summary>
public sealed class LabelOutOfRangeException(int index, int label, int classes, int ignore, bool truth)
    : Exception($"{(truth ? "ground-truth" : "predicted")} label {label} at pixel {index} is not one of the {classes} classes (0…{classes - 1})" +
                (truth ? $" nor the ignore index {ignore}" : ""))
{
    /// <summary>Row-major pixel index.</summary>
    public int Index { get; } = index;

    /// <summary>The label found.</summary>
    public int Label { get; } = label;

    /// <summary>Whether the label is the ground truth's (else the prediction's).</summary>
    public bool Truth { get; } = truth;
}
