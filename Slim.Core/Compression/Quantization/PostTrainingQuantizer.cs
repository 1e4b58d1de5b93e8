using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// Post-training quantization (slim quant --mode post). <see cref="Prepare"/> folds every
/// eval-mode BN into its conv for real and swaps the selected layers for quantized ones;
/// <see cref="Calibrate"/> then runs the float (folded) model once over the calibration batches,
/// collecting the statistics of every quantized layer's input and every quantization point's tensor
/// through forward hooks in that one pass, and sets each threshold with the chosen algorithm. Weights use per-channel
/// abs-max scales, which need no data.
/// </summary>
public sealed class PostTrainingQuantizer
{
    private readonly nn.Module _model;
    private readonly Func<Tensor, IEnumerable<Tensor>> _forward;

    private PostTrainingQuantizer(nn.Module model, Func<Tensor, IEnumerable<Tensor>> forward, QuantizationOptions options, QuantizationPlan plan)
    {
        _model = model;
        _forward = forward;
        Options = options;
        Plan = plan;
    }

    /// <summary>The options in use.</summary>
    public QuantizationOptions Options { get; }

    /// <summary>Which layers are quantized, and why (the report).</summary>
    public QuantizationPlan Plan { get; }

    /// <summary>Selects, folds and swaps layers of model in place. sample is one input batch used to trace the model.</summary>
    public static PostTrainingQuantizer Prepare(nn.Module model, QuantizationOptions options, Func<Tensor, IEnumerable<Tensor>> forward, Tensor sample)
    {
        var plan = LayerSelector.Select(model, options, forward, sample);
        bool wasTraining = model.training;
        model.eval();
        AwareQuantizer.Replace(model, plan, (layer, conv, bn) => QuantConv2d.Folded(layer.Path, conv, bn, layer.BatchNormPath), (layer, linear) => new QuantLinear(layer.Path, linear),
            disposeBatchNorm: true, options.ObserverMomentum);
        AwareQuantizer.SetWeightBits(model, options.WeightBits);
        model.train(wasTraining);
        return new PostTrainingQuantizer(model, forward, options, plan);
    }

    /// <summary>
    /// Prepares and calibrates in one call; the batches are read once (the first also serves for tracing).
    /// </summary>
    public static (QuantizationPlan Plan, QuantizationResult Result) Run(nn.Module model, QuantizationOptions options,
        Func<Tensor, IEnumerable<Tensor>> forward, IEnumerable<Tensor> calibration, ProcessGroup? group = null)
    {
        using var batches = calibration.GetEnumerator();
        if (!batches.MoveNext()) throw EmptyCalibration();
        var first = batches.Current;
        var ptq = Prepare(model, options, forward, first);
        var result = ptq.Calibrate(Prepend(first, batches), group);
        return (ptq.Plan, result);
    }

    private static IEnumerable<Tensor> Prepend(Tensor first, IEnumerator<Tensor> rest)
    {
        yield return first;
        while (rest.MoveNext()) yield return rest.Current;
    }

    private static QuantizationException EmptyCalibration() =>
        new("quant --mode post: the calibration set is empty: give at least one batch (quant.calibration_batches ≥ 1 and a non-empty dataset)");

    /// <summary>
    /// One pass over the batches (the caller keeps ownership of tensors it holds elsewhere;
    /// tensors the enumerator creates are released batch by batch). Sets every quantized
    /// layer's input threshold and returns the result. Can be called again to recalibrate.
    /// With a <paramref name="group"/> of several processes, each given the same batches, rank r runs batches r, r + W,
    /// r + 2W … and the statistics of all ranks are merged before the thresholds are chosen (the same on every rank).
    /// </summary>
    public QuantizationResult Calibrate(IEnumerable<Tensor> batches, ProcessGroup? group = null)
    {
        if (group is { world_size: > 1 }) batches = batches.Where((_, i) => i % group.world_size == group.rank);
        // Layers and quantization points alike: each quantizes the tensor reaching it.
        var layers = _model.modules().OfType<ActivationQuantizer>().ToList();
        bool histogram = Options.Algorithm is CalibrationAlgo.Hist or CalibrationAlgo.Kl or CalibrationAlgo.Mse;
        var stats = layers.ToDictionary(l => l, _ => new ActivationStatistics(histogram));
        var hooks = layers.Select(l => l.register_forward_hook((m, input, _) =>
        {
            stats[(ActivationQuantizer)m].Add((Tensor)input);
            return null;
        })).ToList();
        bool wasTraining = _model.training;
        foreach (var l in layers) l.QuantizationEnabled = false;
        _model.eval();
        int count = 0;
        try
        {
            using var _ = no_grad();
            using var e = batches.GetEnumerator();
            while (true)
            {
                using var scope = NewDisposeScope();
                if (!e.MoveNext()) break;
                _forward(e.Current).ToList();
                count++;
            }
        }
        finally
        {
            foreach (var h in hooks) h.Dispose();
            foreach (var l in layers) l.QuantizationEnabled = true;
            _model.train(wasTraining);
        }
        if (group is { world_size: > 1 })
        {
            // One gather of every layer's statistics; a rank whose share was empty adds nothing.
            var mine = new double[] { count }.Concat(layers.SelectMany(l => stats[l].ToVector())).ToArray();
            var all = Slim.Training.Collectives.AllGatherDoubles(group, mine);
            count = (int)all.Sum(v => v[0]);
            int width = layers.Count == 0 ? 0 : (mine.Length - 1) / layers.Count;
            for (int k = 0; k < layers.Count; k++)
                stats[layers[k]] = ActivationStatistics.Merge(all.Select(v => v.AsSpan(1 + k * width, width).ToArray()).ToList());
        }
        if (count == 0) throw EmptyCalibration();
        foreach (var l in layers)
        {
            var s = stats[l];
            if (s.Batches == 0)
                throw new QuantizationException($"quant --mode post: {(l is QuantPoint ? "quantization point" : "layer")} '{l.Path}' saw no input during calibration: the forward given does not reach it");
            l.SetInputThreshold(s.Threshold(Options.Algorithm, Options.Percentile), s.Unsigned);
        }
        return QuantizationResult.From(_model, QuantMode.Post, Options.Algorithm);
    }
}
