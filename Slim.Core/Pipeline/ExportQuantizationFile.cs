using System.Text.Json;
using System.Text.Json.Nodes;

namespace Slim.Pipeline;

/// <summary>
/// Reads and writes the per-layer INT8 parameters (quant.json) the INT8 export consumes: either a JSON
/// array of layers or an object whose "layers" property is that array; each layer has module_path,
/// weight_scales, input_scale, input_zero_point and int8 (snake_case or PascalCase names).
/// </summary>
public static class ExportQuantizationFile
{
    /// <summary>File name of the parameters in a quant stage's folder.</summary>
    public const string FileName = "quant.json";

    /// <summary>Writes the parameters atomically as {"layers": [...]}.</summary>
    public static void Write(string path, IReadOnlyList<QuantSpec> specs)
    {
        var layers = new JsonArray();
        foreach (var s in specs)
            layers.Add(new JsonObject
            {
                ["module_path"] = s.ModulePath,
                ["weight_scales"] = new JsonArray(s.WeightScales.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
                ["input_scale"] = s.InputScale,
                ["input_zero_point"] = s.InputZeroPoint,
                ["int8"] = s.Int8,
            });
        AtomicFile.WriteAllText(path, new JsonObject { ["layers"] = layers }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads the parameters; a malformed file fails naming the file, the layer and the key.</summary>
    public static IReadOnlyList<QuantSpec> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"quantization parameters not found: {path}", path);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})");
        }
        var layers = root switch
        {
            JsonArray a => a,
            JsonObject o when Get(o, "layers") is JsonArray a => a,
            _ => throw new InvalidDataException($"{path}: expected a JSON array of layers or an object with a \"layers\" array"),
        };
        var result = new List<QuantSpec>(layers.Count);
        for (int i = 0; i < layers.Count; i++)
        {
            if (layers[i] is not JsonObject layer) throw new InvalidDataException($"{path}: layers[{i}] is not an object");
            string where = $"{path}: layers[{i}]";
            T Value<T>(string key)
            {
                var node = Get(layer, key) ?? throw new InvalidDataException($"{where} lacks '{key}'");
                try
                {
                    return node.GetValue<T>();
                }
                catch (Exception e) when (e is InvalidOperationException or FormatException)
                {
                    throw new InvalidDataException($"{where}.{key}: expected a {typeof(T).Name}, got {node.ToJsonString()}");
                }
            }
            var scalesNode = Get(layer, "weight_scales") as JsonArray ?? throw new InvalidDataException($"{where} lacks the 'weight_scales' array");
            var scales = new float[scalesNode.Count];
            for (int j = 0; j < scales.Length; j++)
            {
                try
                {
                    scales[j] = scalesNode[j]!.GetValue<float>();
                }
                catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
                {
                    throw new InvalidDataException($"{where}.weight_scales[{j}]: expected a number");
                }
            }
            result.Add(new QuantSpec(Value<string>("module_path"), scales, Value<float>("input_scale"),
                Get(layer, "input_zero_point") is null ? 0 : Value<int>("input_zero_point"),
                Get(layer, "int8") is null || Value<bool>("int8")));
        }
        return result;
    }

    // Accepts module_path, ModulePath and modulePath for the same key.
    private static JsonNode? Get(JsonObject o, string snake)
    {
        if (o.TryGetPropertyValue(snake, out var v)) return v;
        string pascal = string.Concat(snake.Split('_').Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
        foreach (var (k, node) in o)
            if (string.Equals(k, pascal, StringComparison.OrdinalIgnoreCase)) return node;
        return null;
    }
}
