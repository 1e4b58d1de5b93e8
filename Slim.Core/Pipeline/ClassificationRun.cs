using Slim.Models;

namespace Slim.Pipeline;

/// <summary>Cost figures of a classifier, as the model-zoo tables give them.</summary>
/// <param name="Gflops">PaddleSlim GFLOPs: conv + fc multiply-accumulates / 2^30 at the model's input size.</param>
/// <param name="Parameters">Trainable parameters and BN statistics.</param>
/// <param name="SizeMiB">Stored size: float32 for float models; INT8 weights with float biases and scales for quantized ones.</param>
public sealed record ClassifierFigures(double Gflops, long Parameters, double SizeMiB);

/// <summary>What one classification step (baseline training, pruning, quantization) produced.</summary>
/// <param name="Stage">"baseline", "prune" or "quant".</param>
/// <param name="Detail">One line saying what was done ("uniform l1_norm r=0.231 (-30.0% FLOPs), fine-tune 200 it").</param>
/// <param name="Checkpoint">The output model, rebuildable with <see cref="ClassificationPipeline.Load"/> (for quant: the float twin with folded weights).</param>
/// <param name="Architecture">The registered model name.</param>
/// <param name="Options">The model options (pruned channel counts included).</param>
/// <param name="Top1">Top-1 accuracy (0-1) on the test images, in libtorch (for quant: of the fake-quantized model).</param>
/// <param name="Figures">GFLOPs, parameters and size of the output model.</param>
public sealed record ClassificationRun(string Stage, string Detail, string Checkpoint, string Architecture, ModelOptions Options,
    double Top1, ClassifierFigures Figures)
{
    /// <summary>Further figures ("top1_before_fine_tune", "top1_float", "macs_reduction" …).</summary>
    public IReadOnlyDictionary<string, double> Extra { get; init; } = new Dictionary<string, double>();

    /// <summary>quant only: the JSON file with every quantized layer's weight and input scales.</summary>
    public string? QuantizationFile { get; init; }

    /// <summary>The run as a report row; the top-1 accuracy goes in the row's metric column (<see cref="StageReport.Ap"/>).</summary>
    public StageReport ToReport() => new()
    {
        Stage = Stage,
        Detail = Detail,
        Gflops = Figures.Gflops,
        Parameters = Figures.Parameters,
        SizeMiB = Figures.SizeMiB,
        Ap = Top1,
        Checkpoint = Checkpoint,
    };
}
