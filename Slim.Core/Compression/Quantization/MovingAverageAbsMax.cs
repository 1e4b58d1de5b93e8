namespace Slim.Compression.Quantization;

/// <summary>
/// PaddleSlim's moving_average_abs_max activation observer. With rate r (0.9), each training
/// batch with largest |x| = m updates state ← r·state + 1 and accum ← r·accum + m, and the
/// threshold is accum / state: an exponential moving average of the batch maxima whose
/// weights are normalised, so the first batch gives m exactly instead of (1 − r)·m.
/// </summary>
public static class MovingAverageAbsMax
{
    /// <summary>One observer step: the new (state, accum) and the threshold accum / state.</summary>
    public static (double State, double Accum, double Threshold) Update(double state, double accum, double batchAbsMax, double rate)
    {
        double s = rate * state + 1;
        double a = rate * accum + batchAbsMax;
        return (s, a, a / s);
    }
}
