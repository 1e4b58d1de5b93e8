namespace Slim.Compression.Quantization;

/// <summary>One try of the fallback: the layers kept in float, the metric of the model so, and whether it passed.</summary>
public sealed record FallbackStep(IReadOnlyList<string> FloatLayers, double Metric, bool Passed);

/// <summary>Every try in order, the one kept (the first that passed, else the best), and whether it passed.</summary>
public sealed record FallbackResult(IReadOnlyList<FallbackStep> Steps, FallbackStep Kept)
{
    public bool Passed => Kept.Passed;
}

/// <summary>
/// The self-repairing accuracy gate of INT8: the quantized layers ranked most costly first (<see cref="QuantAnalysis"/>),
/// the first one, then the first two, … are kept in float until the model passes (or <c>maxLayers</c> are float).
/// The evaluation is the caller's: in ONNX Runtime for a run's verification, in libtorch in tests.
/// </summary>
public static class QuantFallback
{
    /// <param name="ranking">Quantized layers, most costly first.</param>
    /// <param name="evaluate">The metric of the model with these layers in float (the rest as quantized).</param>
    /// <param name="passes">Whether a metric is good enough.</param>
    /// <param name="maxLayers">The most layers kept in float.</param>
    /// <param name="progress">Called after each try.</param>
    /// <param name="cancel">Stops between tries.</param>
    public static FallbackResult Run(IReadOnlyList<string> ranking, Func<IReadOnlyList<string>, double> evaluate, Func<double, bool> passes,
        int maxLayers, Action<FallbackStep>? progress = null, CancellationToken cancel = default)
    {
        if (ranking.Count == 0) throw new QuantizationException("quantization fallback: no quantized layer to keep in float");
        if (maxLayers < 1) throw new QuantizationException($"quantization fallback: max layers {maxLayers}: expected 1 or more");
        var steps = new List<FallbackStep>();
        for (int k = 1; k <= Math.Min(maxLayers, ranking.Count); k++)
        {
            cancel.ThrowIfCancellationRequested();
            var floats = ranking.Take(k).ToList();
            double m = evaluate(floats);
            var step = new FallbackStep(floats, m, passes(m));
            steps.Add(step);
            progress?.Invoke(step);
            if (step.Passed) return new FallbackResult(steps, step);
        }
        // None passed: the best metric (the fewest float layers among equals).
        var best = steps.Select((s, i) => (s, i)).OrderByDescending(x => x.s.Metric).ThenBy(x => x.i).First().s;
        return new FallbackResult(steps, best);
    }
}
