using Slim.Compression.Quantization;

namespace Slim.Export;

/// <summary>
/// What the ONNX exporter needs besides the model: the input's shape and name, and the metadata a
/// consumer of the file needs to feed it (normalization, class names). Validated by <see cref="Validate"/>.
/// </summary>
public sealed record OnnxExportOptions
{
    /// <summary>The ONNX operator set written; 14 is the first with HardSwish.</summary>
    public const int Opset = 14;

    /// <summary>Shape of one input sample, without the batch dimension: [channels, height, width].</summary>
    public required long[] InputShape { get; init; }

    /// <summary>Name of the graph input.</summary>
    public string InputName { get; init; } = "images";

    /// <summary>Names of the graph outputs, in the order the forward returns them; null gives output0, output1, ….</summary>
    public IReadOnlyList<string>? OutputNames { get; init; }

    /// <summary>Model name stored in the graph and the metadata.</summary>
    public string ModelName { get; init; } = "slim";

    /// <summary>Per-channel mean subtracted from the [0, 1] image before the model (metadata only).</summary>
    public float[]? Mean { get; init; }

    /// <summary>Per-channel standard deviation the image is divided by (metadata only).</summary>
    public float[]? Std { get; init; }

    /// <summary>Class names, in label order (metadata only).</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>Further metadata properties written as they are.</summary>
    public IReadOnlyDictionary<string, string>? ExtraMetadata { get; init; }

    /// <summary>Fold an eval-mode batch norm into the convolution before it when it is that convolution's only consumer.</summary>
    public bool FoldBatchNorm { get; init; } = true;

    /// <summary>
    /// Batch size of the example input the model is traced with. Two (not one) so that reshapes can tell
    /// the batch dimension apart from a dimension of size one.
    /// </summary>
    public int TraceBatch { get; init; } = 2;

    /// <summary>
    /// The quantized-layer records (as calibration or quantization-aware training produced them, or as
    /// quant.json holds them) by module path of a conv2d or linear layer ("backbone.0.conv"). Each layer named
    /// here is written in QDQ form (QuantizeLinear/DequantizeLinear on its input, int8 weights with a per-channel
    /// DequantizeLinear), which ONNX Runtime fuses into QLinearConv / QGemm. The model's weight at that path
    /// must be the one the record's scales belong to (the float twin's). Null or empty: FP32 export.
    /// </summary>
    public IReadOnlyDictionary<string, QuantizedLayer>? Quantization { get; init; }

    /// <summary>
    /// The quantization points on activations by module path (see <see cref="QuantizedActivation"/>): a batch-norm
    /// path ("yolo_block.0.0.0.bn") quantizes the output of the batch norm, or of the conv it is folded into;
    /// "&lt;merge path&gt;.input{i}" quantizes input i of the concat or residual add module at that path. Each is written as one
    /// QuantizeLinear/DequantizeLinear pair, shared with any quantized layer that reads the same tensor with the
    /// same parameters. A nearest-neighbour upsample or max pool right before a point is quantized on its input
    /// too (exact, as neither op makes new values), so ONNX Runtime runs it on int8.
    /// </summary>
    public IReadOnlyDictionary<string, QuantizedActivation>? ActivationQuantization { get; init; }

    /// <summary>
    /// When set, the YOLOv3 box decoding and class-aware NMS are appended to the graph (see
    /// <see cref="YoloPostprocessGraph"/>): the model takes a second input, scale_factor, and returns
    /// detections instead of the head outputs (<see cref="OutputNames"/> is then not used).
    /// </summary>
    public Slim.Detection.YoloBoxDecoderOptions? Postprocess { get; init; }

    /// <summary>
    /// When set, the SSD decoding and NMS are appended (see <see cref="SsdPostprocessGraph"/>), with the same second input and
    /// outputs as <see cref="Postprocess"/>; the model's forward must return the deltas and the logits.
    /// </summary>
    public SsdPostprocessOptions? SsdPostprocess { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (InputShape is null || InputShape.Length == 0 || InputShape.Any(d => d <= 0))
            throw new ArgumentException($"OnnxExportOptions.InputShape: expected positive [channels, height, width] (or [features]), got [{string.Join(", ", InputShape ?? Array.Empty<long>())}]");
        if (string.IsNullOrWhiteSpace(InputName))
            throw new ArgumentException("OnnxExportOptions.InputName: must not be empty");
        if (TraceBatch < 1)
            throw new ArgumentException($"OnnxExportOptions.TraceBatch: must be at least 1, got {TraceBatch}");
        if (Mean is not null && Mean.Length != InputShape[0])
            throw new ArgumentException($"OnnxExportOptions.Mean: expected {InputShape[0]} values (one per input channel), got {Mean.Length}");
        if (Std is not null && (Std.Length != InputShape[0] || Std.Any(s => !(s > 0))))
            throw new ArgumentException($"OnnxExportOptions.Std: expected {InputShape[0]} positive values (one per input channel), got [{string.Join(", ", Std)}]");
        if (OutputNames is not null && OutputNames.Distinct().Count() != OutputNames.Count)
            throw new ArgumentException($"OnnxExportOptions.OutputNames: names must be distinct, got [{string.Join(", ", OutputNames)}]");
        if (OutputNames is not null && OutputNames.Contains(InputName))
            throw new ArgumentException($"OnnxExportOptions.OutputNames: '{InputName}' is already the input's name");
        if (Postprocess is not null) YoloPostprocessGraph.Validate(Postprocess);
        if (Postprocess is not null && SsdPostprocess is not null)
            throw new ArgumentException("OnnxExportOptions: Postprocess (YOLO) and SsdPostprocess exclude each other");
        foreach (var (path, q) in Quantization ?? new Dictionary<string, QuantizedLayer>())
        {
            if (q.ModulePath != path)
                throw new ArgumentException($"OnnxExportOptions.Quantization['{path}']: the record is that of '{q.ModulePath}'");
            try
            {
                q.Validate();
            }
            catch (QuantizationException e)
            {
                throw new ArgumentException($"OnnxExportOptions.Quantization['{path}']: {e.Message}");
            }
        }
    }
}
