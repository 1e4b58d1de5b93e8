using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using Slim.Torch;

namespace Slim.Export;

/// <summary>
/// Writes a model as an ONNX file (opset <see cref="OnnxExportOptions.Opset"/>, dynamic batch). The graph
/// comes from a <see cref="Trace"/> of one forward pass, so any model built from the supported operators
/// exports without model-specific code. With <see cref="OnnxExportOptions.Quantization"/> the listed
/// conv/linear layers are written in INT8 QDQ form.
/// </summary>
public static class OnnxExporter
{
    /// <summary>Name of the dynamic batch dimension in the graph's input and outputs.</summary>
    public const string BatchDimension = "batch";

    /// <summary>
    /// Traces <paramref name="model"/> on a random input of shape [TraceBatch, ..InputShape] and returns the
    /// ONNX model. <paramref name="forward"/> maps the input to the outputs (default: the model's own call
    /// for a Module&lt;Tensor, Tensor&gt;). The model is put in eval mode for the trace and restored after.
    /// </summary>
    public static ModelProto Export(torch.nn.Module model, OnnxExportOptions options, Func<Tensor, IEnumerable<Tensor>>? forward = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        forward ??= model is torch.nn.Module<Tensor, Tensor> m
            ? x => new[] { m.call(x) }
            : throw new ArgumentException($"OnnxExporter.Export: {model.GetType().Name} is not a Module<Tensor, Tensor>; pass a forward function that returns its outputs");

        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = torch.NewDisposeScope();
            var input = torch.rand(new[] { (long)options.TraceBatch }.Concat(options.InputShape).ToArray(), new Generator(0));
            Tensor[] outputs = Array.Empty<Tensor>();
            using var trace = Trace.Run(model, new[] { input }, xs => outputs = forward(xs[0]).ToArray());
            if (outputs.Length == 0) throw new ArgumentException("OnnxExporter.Export: the forward returned no outputs");
            if (options.OutputNames is not null && options.OutputNames.Count != outputs.Length)
                throw new ArgumentException($"OnnxExportOptions.OutputNames: the forward returns {outputs.Length} outputs, but {options.OutputNames.Count} names were given");
            return Build(trace, outputs, options);
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>Exports and saves in one step; returns the file size in bytes.</summary>
    public static long ExportToFile(torch.nn.Module model, string path, OnnxExportOptions options, Func<Tensor, IEnumerable<Tensor>>? forward = null)
    {
        var proto = Export(model, options, forward);
        Save(proto, path);
        return new FileInfo(path).Length;
    }

    /// <summary>Writes the model atomically (a temporary file renamed over the target).</summary>
    public static void Save(ModelProto model, string path)
    {
        AtomicFile.Write(path, model.WriteTo);
    }

    /// <summary>Reads an ONNX file.</summary>
    public static ModelProto Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model not found: {path}", path);
        using var f = File.OpenRead(path);
        try
        {
            var model = ModelProto.Parser.ParseFrom(f);
            if (model.Graph is null) throw new InvalidDataException($"{path}: not an ONNX model (no graph); give a .onnx file written by slim export");
            return model;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{path}: not an ONNX model (its bytes do not parse as an ONNX protobuf: {ProtobufProblem(e)}); give a .onnx file written by slim export", e);
        }
    }

    // Protobuf's messages are long and say "protocol message"; the first clause says what was wrong.
    private static string ProtobufProblem(InvalidProtocolBufferException e)
    {
        var m = e.Message.Split('\n')[0];
        int stop = m.IndexOfAny(['.', ';']);
        return (stop > 0 ? m[..stop] : m).Replace("While parsing a protocol message, ", "", StringComparison.Ordinal).Trim();
    }

    private static ModelProto Build(Trace trace, Tensor[] outputs, OnnxExportOptions options)
    {
        var g = new OnnxGraphBuilder();
        g.Graph.Name = options.ModelName;
        bool post = options.Postprocess is not null || options.SsdPostprocess is not null;
        var outNames = post ? YoloPostprocessGraph.OutputNames.ToArray()
            : Enumerable.Range(0, outputs.Length).Select(i => options.OutputNames?[i] ?? (outputs.Length == 1 ? "output" : $"output{i}")).ToArray();
        foreach (var n in outNames) g.Reserve(n);
        var translator = new TraceToOnnx(trace, options, g);
        var names = translator.Translate(options.InputName);

        if (options.Quantization is { Count: > 0 } spec)
        {
            var missing = spec.Keys.Where(k => !translator.QuantizedLayers.Contains(k)).ToArray();
            if (missing.Length > 0)
                throw new ArgumentException($"OnnxExportOptions.Quantization: no conv2d/linear layer ran at module path(s) {string.Join(", ", missing.Select(k => $"'{k}'"))}; " +
                    $"layers in the trace: {string.Join(", ", trace.Nodes.Where(n => n.Kind is "conv2d" or "linear").Select(n => n.ModulePath).Distinct().Take(20))}");
        }

        if (options.ActivationQuantization is { Count: > 0 } points)
        {
            var missing = points.Keys.Where(k => !translator.QuantizedPoints.Contains(k)).ToArray();
            if (missing.Length > 0)
                throw new ArgumentException($"OnnxExportOptions.ActivationQuantization: no batch norm, folded conv or concat input ran at module path(s) {string.Join(", ", missing.Select(k => $"'{k}'"))}; " +
                    "export the float twin the quantization was made for");
        }

        g.Graph.Input.Add(ValueInfo(options.InputName, ScalarType.Float32, new long[] { options.TraceBatch }.Concat(options.InputShape).ToArray(), 0, options.TraceBatch));
        if (post)
        {
            if (options.InputShape.Length != 3 || options.InputShape[1] != options.InputShape[2])
                throw new ArgumentException($"OnnxExportOptions.Postprocess: needs a square image input [channels, S, S], got [{string.Join(", ", options.InputShape)}]");
            for (int i = 0; i < names.Length; i++)
                if (translator.BatchAxis(trace.Outputs[i]) != 0)
                    throw new ArgumentException($"OnnxExportOptions.Postprocess: head output {i} does not carry the batch on its first axis");
            var shapesOut = trace.Outputs.Select(v => trace.Shape(v)).ToArray();
            var (heads, slots) = options.Postprocess is { } yolo
                ? YoloPostprocessGraph.Append(g, names, shapesOut, options.InputShape[1], yolo)
                : SsdPostprocessGraph.Append(g, names, shapesOut, options.InputShape[1], options.SsdPostprocess!);
            long tb = options.TraceBatch;
            g.Graph.Input.Add(ValueInfo(YoloPostprocessGraph.ScaleFactorName, ScalarType.Float32, new[] { tb, 2L }, 0, tb));
            var shapes = new (ScalarType, long[])[] { (ScalarType.Int64, new[] { tb, 1L }), (ScalarType.Float32, new[] { tb, slots, 4L }), (ScalarType.Float32, new[] { tb, slots }), (ScalarType.Int64, new[] { tb, slots }) };
            for (int i = 0; i < heads.Length; i++)
            {
                g.NodeTo("Identity", $"{outNames[i]}/Identity", new[] { heads[i] }, outNames[i]);
                g.Graph.Output.Add(ValueInfo(outNames[i], shapes[i].Item1, shapes[i].Item2, 0, tb));
            }
        }
        else for (int i = 0; i < names.Length; i++)
        {
            var outName = outNames[i];
            // An explicit Identity gives every output its own name even when two outputs, or an output and
            // the input, are the same value.
            g.NodeTo("Identity", $"{outName}/Identity", new[] { names[i] }, outName);
            int v = trace.Outputs[i];
            g.Graph.Output.Add(ValueInfo(outName, outputs[i].dtype, trace.Shape(v), translator.BatchAxis(v), options.TraceBatch));
        }

        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "slim",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "0",
            Domain = "slim",
            ModelVersion = 1,
            DocString = $"{options.ModelName} exported by Slim",
            Graph = g.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OnnxExportOptions.Opset });
        foreach (var (k, val) in Metadata(options, outNames)) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = val });
        return model;
    }

    private static IEnumerable<(string, string)> Metadata(OnnxExportOptions o, string[] outputNames)
    {
        static string Json<T>(T v) => JsonSerializer.Serialize(v);
        yield return ("model_name", o.ModelName);
        yield return ("input_name", o.InputName);
        yield return ("input_shape", Json(new long[] { -1 }.Concat(o.InputShape).ToArray()));
        yield return ("output_names", Json(outputNames));
        if (o.Postprocess is { } p)
            yield return ("postprocess", Json(new Dictionary<string, object>
            {
                ["decode"] = "yolo_box",
                ["nms"] = "multiclass_nms",
                ["conf_threshold"] = p.ConfidenceThreshold,
                ["score_threshold"] = p.Nms.ScoreThreshold,
                ["nms_threshold"] = p.Nms.NmsThreshold,
                ["nms_top_k"] = p.Nms.NmsTopK,
                ["keep_top_k"] = p.Nms.KeepTopK,
                ["clip_boxes"] = p.ClipBoxes,
                ["scale_factor_input"] = YoloPostprocessGraph.ScaleFactorName,
            }));
        if (o.SsdPostprocess is { } sp)
            yield return ("postprocess", Json(new Dictionary<string, object>
            {
                ["decode"] = "ssd_box",
                ["nms"] = "multiclass_nms",
                ["score_threshold"] = sp.Nms.ScoreThreshold,
                ["nms_threshold"] = sp.Nms.NmsThreshold,
                ["nms_top_k"] = sp.Nms.NmsTopK,
                ["keep_top_k"] = sp.Nms.KeepTopK,
                ["scale_factor_input"] = YoloPostprocessGraph.ScaleFactorName,
            }));
        if (o.Mean is not null) yield return ("mean", Json(o.Mean));
        if (o.Std is not null) yield return ("std", Json(o.Std));
        if (o.ClassNames is not null) yield return ("class_names", Json(o.ClassNames));
        yield return ("precision", o.Quantization is { Count: > 0 } ? "int8-qdq" : "fp32");
        if (o.ExtraMetadata is not null)
            foreach (var (k, v) in o.ExtraMetadata) yield return (k, v);
    }

    private static ValueInfoProto ValueInfo(string name, ScalarType dtype, long[] shape, int batchAxis, long batch)
    {
        var type = new TypeProto.Types.Tensor { ElemType = (int)ElementType(dtype), Shape = new TensorShapeProto() };
        for (int i = 0; i < shape.Length; i++)
        {
            var dim = new TensorShapeProto.Types.Dimension();
            if (i == batchAxis && shape[i] == batch) dim.DimParam = BatchDimension;
            else if (i == batchAxis) dim.DimParam = $"{BatchDimension}_x{(shape[i] % batch == 0 ? (shape[i] / batch).ToString(CultureInfo.InvariantCulture) : "n")}";
            else dim.DimValue = shape[i];
            type.Shape.Dim.Add(dim);
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = type } };
    }

    private static TensorProto.Types.DataType ElementType(ScalarType t) => t switch
    {
        ScalarType.Float32 => TensorProto.Types.DataType.Float,
        ScalarType.Float64 => TensorProto.Types.DataType.Double,
        ScalarType.Int64 => TensorProto.Types.DataType.Int64,
        ScalarType.Int32 => TensorProto.Types.DataType.Int32,
        ScalarType.Int8 => TensorProto.Types.DataType.Int8,
        ScalarType.Byte => TensorProto.Types.DataType.Uint8,
        ScalarType.Bool => TensorProto.Types.DataType.Bool,
        _ => throw new ArgumentException($"ONNX export: an output has element type {t}, which has no ONNX mapping here"),
    };
}
