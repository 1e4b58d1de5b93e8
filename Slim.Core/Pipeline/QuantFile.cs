using System.Globalization;
using System.Text.Json;
using Slim.Compression.Quantization;
using Slim.Recipes;

namespace Slim.Pipeline;

/// <summary>
/// The quant stage's <c>quant.json</c>: how the model was quantized (mode, algorithm), the
/// quantization parameters of every quantized layer (module path, per-channel weight scales,
/// input scale, zero point and integer type, conv geometry) and the layer report (every
/// Conv2d/Linear, quantized or skipped and why). Weights are not in it: they are the float twin
/// checkpoint's. Written and read by hand so the format is fixed here, not by a serializer's
/// conventions; floats are written in their shortest round-trip form, so scales read back exactly.
/// </summary>
public static class QuantFile
{
    /// <summary>The value of the "format" key.</summary>
    public const string Format = "slim.quant";

    /// <summary>The format version written.</summary>
    public const int Version = 1;

    /// <summary>Writes quant.json atomically.</summary>
    public static void Write(string path, QuantizationResult result, QuantizationPlan plan, QuantSection section, string twinCheckpoint)
    {
        AtomicFile.Write(path, stream =>
        {
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteString("format", Format);
            w.WriteNumber("version", Version);
            w.WriteString("mode", RecipeBinder.EnumName(typeof(QuantMode), result.Mode));
            w.WriteString("algorithm", result.ActivationAlgorithm);
            if (result.Mode == QuantMode.Post && section.Algo == CalibrationAlgo.Hist) w.WriteNumber("percentile", section.Percentile);
            w.WriteString("twin_checkpoint", Path.GetFileName(twinCheckpoint));
            w.WriteStartArray("not_quant");
            foreach (var p in section.NotQuant) w.WriteStringValue(p);
            w.WriteEndArray();
            w.WriteBoolean("quant_output", section.QuantOutput);

            w.WriteStartObject("weight_format");
            w.WriteString("dtype", "int8");
            w.WriteString("scheme", "symmetric_per_channel");
            w.WriteNumber("axis", 0);
            w.WriteNumber("quant_min", FakeQuant.QuantMin);
            w.WriteNumber("quant_max", FakeQuant.QuantMax);
            w.WriteEndObject();

            w.WriteStartArray("layers");
            foreach (var l in result.Layers) WriteLayer(w, l);
            w.WriteEndArray();

            w.WriteStartArray("report");
            foreach (var d in plan.Layers)
            {
                w.WriteStartObject();
                w.WriteString("module", d.Path);
                w.WriteString("type", d.Type);
                w.WriteBoolean("quantized", d.Quantized);
                w.WriteString("reason", d.Reason);
                if (d.Quantized && d.BatchNormPath is not null) w.WriteString("folds", d.BatchNormPath);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>
    /// Writes a quant.json that holds only the parameters the INT8 export reads (module, weight scales,
    /// input scale, zero point and type per layer): the form for parameters that come from elsewhere than
    /// a quant stage, e.g. another tool's calibration. <see cref="Read"/> reads it like a stage's file.
    /// </summary>
    public static void WriteSpecs(string path, IReadOnlyList<QuantSpec> specs)
    {
        AtomicFile.Write(path, stream =>
        {
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteString("format", Format);
            w.WriteNumber("version", Version);
            w.WriteStartArray("layers");
            foreach (var s in specs)
            {
                w.WriteStartObject();
                w.WriteString("module", s.ModulePath);
                w.WriteStartArray("weight_scales");
                foreach (var v in s.WeightScales) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WriteNumber("input_scale", s.InputScale);
                w.WriteNumber("input_zero_point", s.InputZeroPoint);
                w.WriteString("input_dtype", s.Int8 ? "int8" : "uint8");
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private static void WriteLayer(Utf8JsonWriter w, QuantizedLayer l)
    {
        w.WriteStartObject();
        w.WriteString("module", l.ModulePath);
        w.WriteString("type", l.LayerType);
        w.WriteString("weight_parameter", l.WeightParameter);
        if (l.BiasParameter is not null) w.WriteString("bias_parameter", l.BiasParameter);
        if (l.FoldedBatchNorm is not null) w.WriteString("folded_batch_norm", l.FoldedBatchNorm);
        w.WriteStartArray("weight_shape");
        foreach (var d in l.WeightShape) w.WriteNumberValue(d);
        w.WriteEndArray();
        w.WriteStartArray("weight_scales");
        foreach (var s in l.WeightScales) w.WriteNumberValue(s);
        w.WriteEndArray();
        w.WriteNumber("weight_zero_point", l.WeightZeroPoint);
        w.WriteNumber("input_scale", l.InputScale);
        w.WriteNumber("input_zero_point", l.InputZeroPoint);
        w.WriteString("input_dtype", l.InputType.ToString().ToLowerInvariant());
        w.WriteNumber("input_quant_min", l.InputQuantMin);
        w.WriteNumber("input_quant_max", l.InputQuantMax);
        if (l.LayerType == "Conv2d")
        {
            w.WriteNumber("stride", l.Stride);
            w.WriteNumber("padding", l.Padding);
            w.WriteNumber("dilation", l.Dilation);
            w.WriteNumber("groups", l.Groups);
        }
        w.WriteEndObject();
    }

    /// <summary>The quantized layers of a quant.json, by module path, in file order.</summary>
    public static IReadOnlyDictionary<string, QuantSpec> Read(string path)
    {
        if (!File.Exists(path))
            throw new QuantizationException($"{path}: no such quantization file; run the quant stage (slim quant) to write quant.json");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new QuantizationException($"{path}: not valid JSON ({e.Message}); it should be the quant.json a quant stage wrote");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String || format.GetString() != Format)
                throw new QuantizationException($"{path}: not a Slim quantization file (expected \"format\": \"{Format}\")");
            int version = Int(root, "version", path, "");
            if (version != Version)
                throw new QuantizationException($"{path}: quantization file version {version} is not supported (this Slim reads version {Version})");
            var layers = Get(root, "layers", JsonValueKind.Array, path, "");
            var specs = new Dictionary<string, QuantSpec>(StringComparer.Ordinal);
            int i = 0;
            foreach (var layer in layers.EnumerateArray())
            {
                string where = $"layers[{i}].";
                if (layer.ValueKind != JsonValueKind.Object) throw new QuantizationException($"{path}: layers[{i}] is not an object");
                string module = Get(layer, "module", JsonValueKind.String, path, where).GetString()!;
                var scales = Get(layer, "weight_scales", JsonValueKind.Array, path, where).EnumerateArray()
                    .Select((s, k) => s.ValueKind == JsonValueKind.Number ? s.GetSingle()
                        : throw new QuantizationException($"{path}: {where}weight_scales[{k}] is not a number")).ToArray();
                if (scales.Length == 0) throw new QuantizationException($"{path}: {where}weight_scales is empty");
                if (scales.Any(s => !(s > 0) || !float.IsFinite(s)))
                    throw new QuantizationException($"{path}: {where}weight_scales holds a value that is not a positive finite number");
                float inputScale = Get(layer, "input_scale", JsonValueKind.Number, path, where).GetSingle();
                if (!(inputScale > 0) || !float.IsFinite(inputScale))
                    throw new QuantizationException($"{path}: {where}input_scale is {inputScale.ToString(CultureInfo.InvariantCulture)}; it must be a positive finite number");
                int zeroPoint = Int(layer, "input_zero_point", path, where);
                string dtype = Get(layer, "input_dtype", JsonValueKind.String, path, where).GetString()!;
                bool int8 = dtype switch
                {
                    "int8" => true,
                    "uint8" => false,
                    _ => throw new QuantizationException($"{path}: {where}input_dtype is '{dtype}'; expected int8 or uint8"),
                };
                if (!specs.TryAdd(module, new QuantSpec(module, scales, inputScale, zeroPoint, int8)))
                    throw new QuantizationException($"{path}: layer '{module}' is listed twice");
                i++;
            }
            return specs;
        }
    }

    /// <summary>The layer report of a quant.json: (module, type, quantized, reason) per Conv2d/Linear.</summary>
    public static IReadOnlyList<QuantLayerDecision> ReadReport(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var report = Get(doc.RootElement, "report", JsonValueKind.Array, path, "");
        return report.EnumerateArray().Select((r, i) =>
        {
            string where = $"report[{i}].";
            bool quantized = r.TryGetProperty("quantized", out var q) && q.ValueKind == JsonValueKind.True;
            string? folds = r.TryGetProperty("folds", out var f) ? f.GetString() : null;
            return new QuantLayerDecision(Get(r, "module", JsonValueKind.String, path, where).GetString()!,
                Get(r, "type", JsonValueKind.String, path, where).GetString()!, quantized,
                Get(r, "reason", JsonValueKind.String, path, where).GetString()!, folds);
        }).ToList();
    }

    private static JsonElement Get(JsonElement obj, string key, JsonValueKind kind, string path, string where)
    {
        if (!obj.TryGetProperty(key, out var v))
            throw new QuantizationException($"{path}: {where}{key} is missing");
        if (v.ValueKind != kind)
            throw new QuantizationException($"{path}: {where}{key} is {v.ValueKind.ToString().ToLowerInvariant()}, expected {kind.ToString().ToLowerInvariant()}");
        return v;
    }

    private static int Int(JsonElement obj, string key, string path, string where)
    {
        var v = Get(obj, key, JsonValueKind.Number, path, where);
        return v.TryGetInt32(out int n) ? n : throw new QuantizationException($"{path}: {where}{key} is not a whole number");
    }
}
