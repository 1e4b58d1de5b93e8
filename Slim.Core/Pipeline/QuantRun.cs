using Slim.Compression.Quantization;
using Slim.Models;
using Slim.Recipes;

namespace Slim.Pipeline;

/// <summary>
/// A quantized detector in memory, as <see cref="QuantStage.Quantize"/> leaves it: the model with
/// its quantized layers swapped in and finished for evaluation (fake quantization in eval mode),
/// the parameters, the layer report and the AP before and after. Owns (and disposes) the model.
/// </summary>
public sealed class QuantRun(Slim.Torch.torch.nn.Module model, string architecture, ModelOptions options, QuantizationPlan plan,
    QuantizationResult result, QuantSection section, double apBefore, double apAfter) : IDisposable
{
    /// <summary>The fake-quantized model (eval mode).</summary>
    public Slim.Torch.torch.nn.Module Model { get; } = model;
    /// <summary>The registry architecture ("yolov3_mobilenet_v1").</summary>
    public string Architecture { get; } = architecture;
    /// <summary>The model options (pruned channel counts included).</summary>
    public ModelOptions Options { get; } = options;
    /// <summary>Which layers are quantized and why.</summary>
    public QuantizationPlan Plan { get; } = plan;
    /// <summary>The quantization parameters of every quantized layer.</summary>
    public QuantizationResult Result { get; } = result;
    /// <summary>The settings used.</summary>
    public QuantSection Section { get; } = section;
    /// <summary>AP of the float model the stage started from.</summary>
    public double ApBefore { get; } = apBefore;
    /// <summary>AP of the fake-quantized model.</summary>
    public double ApAfter { get; } = apAfter;

    /// <summary>Disposes the model.</summary>
    public void Dispose() => Model.Dispose();
}
