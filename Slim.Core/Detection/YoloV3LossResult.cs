using Slim.Torch;

namespace Slim.Detection;

/// <summary>
/// The YOLOv3 loss of a batch: the total to back-propagate and its parts for logging, each a scalar
/// tensor summed over the three head outputs. Disposing the result disposes the five tensors.
/// </summary>
public sealed class YoloV3LossResult : IDisposable
{
    /// <summary>xy + wh + obj + cls.</summary>
    public required Tensor Total { get; init; }
    /// <summary>Centre-offset loss (sigmoid cross-entropy against the fractional cell offset).</summary>
    public required Tensor Xy { get; init; }
    /// <summary>Size loss (L1 on log-space width and height).</summary>
    public required Tensor Wh { get; init; }
    /// <summary>Objectness loss (positives, and negatives not ignored).</summary>
    public required Tensor Obj { get; init; }
    /// <summary>Classification loss (sigmoid cross-entropy on positives).</summary>
    public required Tensor Cls { get; init; }

    /// <summary>The parts by the names PaddleDetection logs them under.</summary>
    public IReadOnlyDictionary<string, Tensor> Parts => new Dictionary<string, Tensor>
    {
        ["loss_xy"] = Xy, ["loss_wh"] = Wh, ["loss_obj"] = Obj, ["loss_cls"] = Cls,
    };

    /// <summary>The values of <see cref="Total"/> and the parts as doubles, keyed "loss", "loss_xy", ….</summary>
    public IReadOnlyDictionary<string, double> ToValues() => new Dictionary<string, double>
    {
        ["loss"] = Total.item<double>(), ["loss_xy"] = Xy.item<double>(), ["loss_wh"] = Wh.item<double>(),
        ["loss_obj"] = Obj.item<double>(), ["loss_cls"] = Cls.item<double>(),
    };

    public void Dispose()
    {
        Total.Dispose();
        Xy.Dispose();
        Wh.Dispose();
        Obj.Dispose();
        Cls.Dispose();
    }
}
