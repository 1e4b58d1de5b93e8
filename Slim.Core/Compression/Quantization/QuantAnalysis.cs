using Slim.Torch;

namespace Slim.Compression.Quantization;

/// <summary>What quantizing one layer alone costs: the metric with only that layer in int8, and the loss against float.</summary>
/// <param name="Layer">The quantized layer's module path.</param>
/// <param name="Metric">The metric with this layer alone quantized (weights and input).</param>
/// <param name="Loss">Float metric − <paramref name="Metric"/> (absolute, in the metric's unit; negative: quantizing it helped).</param>
public sealed record LayerQuantCost(string Layer, double Metric, double Loss);

/// <summary>The per-layer costs, most costly first, with the float and all-int8 metrics they compare with.</summary>
public sealed record QuantAnalysisResult(double FloatMetric, double Int8Metric, IReadOnlyList<LayerQuantCost> Layers);

/// <summary>
/// Quantization analysis (PaddleSlim's quant analysis): on a calibrated fake-quantized model, each quantized layer in
/// turn is the only one quantized (its weights and its input; every other layer and every quantization point in
/// float), and the metric says what that layer alone costs. The most costly layers are the ones to keep in float when
/// the int8 model loses too much. Uses the model's own thresholds (a calibration or a QAT run), changes nothing in the
/// end (every layer quantized again).
/// </summary>
public static class QuantAnalysis
{
    /// <param name="model">A fake-quantized model (after <see cref="PostTrainingQuantizer"/> or QAT).</param>
    /// <param name="metric">Scores the model as it stands (higher is better); called once per layer and twice more.</param>
    /// <param name="progress">Called after each layer is scored.</param>
    /// <param name="cancel">Stops between layers (the model is left all quantized).</param>
    public static QuantAnalysisResult Run(torch.nn.Module model, Func<double> metric, Action<LayerQuantCost>? progress = null,
        CancellationToken cancel = default)
    {
        var quantizers = model.modules().OfType<ActivationQuantizer>().ToList();
        var layers = quantizers.OfType<QuantLayer>().ToList();
        if (layers.Count == 0) throw new QuantizationException("quant analysis: the model has no quantized layer (quantize it first)");
        bool wasTraining = model.training;
        model.eval();
        try
        {
            double int8 = Score(quantizers, _ => true, metric);
            double fp = Score(quantizers, _ => false, metric);
            var costs = new List<LayerQuantCost>();
            foreach (var layer in layers)
            {
                cancel.ThrowIfCancellationRequested();
                double m = Score(quantizers, q => ReferenceEquals(q, layer), metric);
                var cost = new LayerQuantCost(layer.Path, m, fp - m);
                costs.Add(cost);
                progress?.Invoke(cost);
            }
            // Most costly first; ties in model order.
            var ranked = costs.Select((c, i) => (c, i)).OrderByDescending(x => x.c.Loss).ThenBy(x => x.i).Select(x => x.c).ToList();
            return new QuantAnalysisResult(fp, int8, ranked);
        }
        finally
        {
            foreach (var q in quantizers) q.QuantizationEnabled = true;
            model.train(wasTraining);
        }
    }

    private static double Score(IReadOnlyList<ActivationQuantizer> quantizers, Func<ActivationQuantizer, bool> enabled, Func<double> metric)
    {
        foreach (var q in quantizers) q.QuantizationEnabled = enabled(q);
        return metric();
    }
}
