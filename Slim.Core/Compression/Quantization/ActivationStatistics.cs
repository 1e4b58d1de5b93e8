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
