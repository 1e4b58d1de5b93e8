using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// Statistics of |x| for one layer input, accumulated batch by batch in a single pass: the
/// overall maximum, the sum of per-batch maxima, and (for hist/kl/mse) a histogram of
/// <see cref="Bins"/> bins over [0, <see cref="Range"/>] plus the count of exact zeros.
/// <para>
/// The range is set by the first batch's maximum. When a later batch exceeds it, the range
/// doubles as often as needed and each 2^k adjacent bins merge into one: bins stay aligned, so
/// the regrouping is exact (no mass is split by guesswork), at the price of at most a factor two
/// of resolution relative to a histogram made with the final maximum known in advance. That
/// keeps calibration to one pass over data that may come from a generator.
/// </para>
/// </summary>
public sealed class ActivationStatistics
{
    /// <summary>Histogram resolution (TensorRT's entropy calibration uses 2048).</summary>
    public const int Bins = 2048;

    private readonly double[]? _histogram;

    /// <summary>Statistics with (withHistogram) or without the histogram.</summary>
    public ActivationStatistics(bool withHistogram) => _histogram = withHistogram ? new double[Bins] : null;

    /// <summary>Batches seen.</summary>
    public int Batches { get; private set; }
    /// <summary>Elements seen.</summary>
    public double Count { get; private set; }
    /// <summary>max |x| over all batches.</summary>
    public double AbsMax { get; private set; }
    /// <summary>Sum over batches of the batch's max |x|.</summary>
    public double SumOfBatchMax { get; private set; }
    /// <summary>The smallest value seen (not its magnitude): at least 0 means the input is never negative.</summary>
    public double Min { get; private set; } = double.PositiveInfinity;
    /// <summary>No negative value was seen: the input takes the unsigned grid (uint8 [0, 255]).</summary>
    public bool Unsigned => Min >= 0;
    /// <summary>Elements exactly zero (ReLU outputs), which every grid represents exactly.</summary>
    public double ZeroCount { get; private set; }
    /// <summary>The upper end of the histogram (0 before the first batch).</summary>
    public double Range { get; private set; }
    /// <summary>The histogram counts of |x| (null without histogram).</summary>
    public IReadOnlyList<double>? Histogram => _histogram;

    /// <summary>Adds one batch of values (any shape).</summary>
    public void Add(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var a = x.detach().abs().to(ScalarType.Float32);
        double m = a.max().item<float>();
        if (!double.IsFinite(m)) throw new QuantizationException($"calibration input holds {m} values: check the data and the float model");
        Min = Math.Min(Min, x.detach().min().item<float>());
        Batches++;
        Count += a.numel();
        AbsMax = Math.Max(AbsMax, m);
        SumOfBatchMax += m;
        if (_histogram is null) return;
        ZeroCount += a.eq(0).sum().item<long>();
        if (Range == 0) Range = Math.Max(m, FakeQuant.MinScale);
        else if (m > Range) Grow(m);
        var counts = AtenOp.Get("aten::histc").Tensor(a, (long)Bins, 0.0, Range).ToFloatArray();
        for (int i = 0; i < Bins; i++) _histogram[i] += counts[i];
    }

    private void Grow(double max)
    {
        long factor = 1;
        double range = Range;
        while (range < max)
        {
            range *= 2;
            factor *= 2;
        }
        var h = _histogram!;
        var merged = new double[Bins];
        for (int i = 0; i < Bins; i++) merged[(int)(i / factor)] += h[i];
        Array.Copy(merged, h, Bins);
        Range = range;
    }

    // Batches, Count, AbsMax, SumOfBatchMax, Min, ZeroCount, Range, then the histogram (if any).
    private const int Header = 7;

    /// <summary>The statistics as numbers, for another process to merge (<see cref="Merge"/>).</summary>
    public double[] ToVector()
    {
        var v = new double[Header + (_histogram?.Length ?? 0)];
        (v[0], v[1], v[2], v[3], v[4], v[5], v[6]) = (Batches, Count, AbsMax, SumOfBatchMax, Min, ZeroCount, Range);
        _histogram?.CopyTo(v, Header);
        return v;
    }

    /// <summary>
    /// The statistics of several processes' shares of the calibration data as one (<see cref="ToVector"/> of each):
    /// counts and sums add, maxima and minima combine; the histograms are laid on the widest range, each bin's count
    /// spread evenly over the bins it covers there (exact when the ranges are equal or differ by powers of two from
    /// one first maximum, else a re-binning at the histogram's resolution).
    /// </summary>
    public static ActivationStatistics Merge(IReadOnlyList<double[]> vectors)
    {
        bool withHistogram = vectors[0].Length > Header;
        var merged = new ActivationStatistics(withHistogram);
        foreach (var v in vectors)
        {
            merged.Batches += (int)v[0];
            merged.Count += v[1];
            merged.AbsMax = Math.Max(merged.AbsMax, v[2]);
            merged.SumOfBatchMax += v[3];
            merged.Min = Math.Min(merged.Min, v[4]);
            merged.ZeroCount += v[5];
            merged.Range = Math.Max(merged.Range, v[6]);
        }
        if (!withHistogram || merged.Range == 0) return merged;
        var h = merged._histogram!;
        double width = merged.Range / Bins;
        foreach (var v in vectors)
        {
            double range = v[6];
            if (range == 0) continue;
            double w = range / Bins;
            for (int i = 0; i < Bins; i++)
            {
                double c = v[Header + i];
                if (c == 0) continue;
                double lo = i * w, hi = lo + w;
                int first = Math.Min(Bins - 1, (int)(lo / width)), last = Math.Min(Bins - 1, (int)Math.Ceiling(hi / width) - 1);
                for (int j = first; j <= last; j++)
                {
                    double overlap = Math.Min(hi, (j + 1) * width) - Math.Max(lo, j * width);
                    if (overlap > 0) h[j] += c * overlap / w;
                }
            }
        }
        return merged;
    }

    /// <summary>The input threshold the algorithm picks from these statistics.</summary>
    public double Threshold(CalibrationAlgo algorithm, double percentile = 0.9999)
    {
        if (Batches == 0) throw new QuantizationException("no calibration statistics: the calibration set is empty");
        if (algorithm is CalibrationAlgo.Hist or CalibrationAlgo.Kl or CalibrationAlgo.Mse && _histogram is null)
            throw new InvalidOperationException($"{algorithm} needs the histogram: create the statistics with withHistogram");
        return algorithm switch
        {
            CalibrationAlgo.AbsMax => AbsMax,
            CalibrationAlgo.Avg => SumOfBatchMax / Batches,
            CalibrationAlgo.Hist => ThresholdSearch.Percentile(_histogram!, Range, percentile),
            CalibrationAlgo.Kl => ThresholdSearch.Entropy(_histogram!, Range, (int)FakeQuant.QuantMaxOf(Unsigned) + 1, ZeroCount),
            CalibrationAlgo.Mse => ThresholdSearch.MinimumSquaredError(_histogram!, Range, ZeroCount, FakeQuant.QuantMaxOf(Unsigned)),
            _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
        };
    }
}
