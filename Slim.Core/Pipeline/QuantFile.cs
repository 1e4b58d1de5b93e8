using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Slim.Compression.Quantization;

namespace Slim.Pipeline;

/// <summary>
/// Reads and writes <c>quant.json</c>: a <see cref="QuantDocument"/> serialised whole with System.Text.Json
/// (snake_case keys and enum names; floats in their shortest round-trip form, so scales read back exactly).
/// The one writer of the file, for the detection quant stage and the classification pipeline alike.
/// </summary>
public static class QuantFile
{
    /// <summary>The value of the "format" key.</summary>
    public const string Format = "slim.quant";

    /// <summary>
    /// The format version written and read. 3: the <see cref="QuantizedActivation"/> of every quantization
    /// point besides the layer records (2 had layers only; 1 was written field by field).
    /// </summary>
    public const int Version = 3;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        // Every field is written, null ones included, so a reader can demand every one.
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { EveryPropertyRequired } },
    };

    private static void EveryPropertyRequired(JsonTypeInfo type)
    {
        if (type.Kind != JsonTypeInfoKind.Object) return;
        foreach (var p in type.Properties)
            if (p.Set is not null || p.AssociatedParameter is not null) p.IsRequired = true;
    }

    /// <summary>The document of a quantization outcome.</summary>
    /// <param name="result">The records (and mode, algorithm).</param>
    /// <param name="plan">The layer report.</param>
    /// <param name="options">The options used (not_quant, quant_output, the hist percentile).</param>
    /// <param name="twinCheckpoint">The float twin checkpoint; its file name is stored.</param>
    public static QuantDocument Document(QuantizationResult result, QuantizationPlan plan, QuantizationOptions options, string twinCheckpoint) => new()
    {
        Mode = result.Mode,
        Algorithm = result.ActivationAlgorithm,
        Percentile = result.Mode == QuantMode.Post && options.Algorithm == CalibrationAlgo.Hist ? options.Percentile : null,
        TwinCheckpoint = Path.GetFileName(twinCheckpoint),
        NotQuant = options.NotQuant.ToArray(),
        QuantOutput = options.QuantOutput,
        Layers = result.Layers,
        Activations = result.Activations,
        PointReport = plan.Points,
        Report = plan.Layers,
    };

    /// <summary>Writes quant.json atomically for a quantization outcome.</summary>
    public static void Write(string path, QuantizationResult result, QuantizationPlan plan, QuantizationOptions options, string twinCheckpoint) =>
        Write(path, Document(result, plan, options, twinCheckpoint));

    /// <summary>Writes a document atomically.</summary>
    public static void Write(string path, QuantDocument document) =>
        AtomicFile.Write(path, stream => JsonSerializer.Serialize(stream, document, Json));

    /// <summary>
    /// Reads a quant.json, refusing (with a <see cref="QuantizationException"/> that names the file) one
    /// that is absent, not JSON, not a Slim quantization file, of another version, missing a field, carrying
    /// an unknown one, or holding a record no INT8 layer can have.
    /// </summary>
    public static QuantDocument Read(string path)
    {
        if (!File.Exists(path))
            throw new QuantizationException($"{path}: no such quantization file; run the quant stage (slim quant) to write quant.json");
        var bytes = File.ReadAllBytes(path);
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String || format.GetString() != Format)
                throw new QuantizationException($"{path}: not a Slim quantization file (expected \"format\": \"{Format}\")");
            if (!root.TryGetProperty("version", out var v) || !v.TryGetInt32(out int version))
                throw new QuantizationException($"{path}: the quantization file has no whole-number \"version\"");
            if (version != Version)
                throw new QuantizationException($"{path}: quantization file version {version} is not supported (this Slim reads version {Version}); run the quant stage again to rewrite it");
        }
        catch (JsonException e)
        {
            throw new QuantizationException($"{path}: not valid JSON at {JsonErrors.Describe(e)}; it should be the quant.json a quant stage wrote");
        }
        catch (InvalidOperationException)
        {
            throw new QuantizationException($"{path}: the quantization file has no whole-number \"version\"");
        }

        QuantDocument document;
        try
        {
            document = JsonSerializer.Deserialize<QuantDocument>(bytes, Json)
                ?? throw new QuantizationException($"{path}: the quantization file is null");
        }
        catch (JsonException e)
        {
            throw new QuantizationException($"{path}: not a valid version {Version} quantization file ({JsonErrors.Describe(e)})");
        }
        CheckEach(path, document.Layers, "layers", l => l.ModulePath, l => l.Validate(), key => $"layer '{key}' is listed twice");
        CheckEach(path, document.Activations, "activations", a => a.Path, a => a.Validate(), key => $"quantization point '{key}' is listed twice");
        return document;
    }

    /// <summary>Validates every record of a list, naming the file and the record's index, and refuses a key listed twice.</summary>
    private static void CheckEach<T>(string path, IReadOnlyList<T> records, string field, Func<T, string> key, Action<T> validate, Func<string, string> twice)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < records.Count; i++)
        {
            try
            {
                validate(records[i]);
            }
            catch (QuantizationException e)
            {
                throw new QuantizationException($"{path}: {field}[{i}]: {e.Message}");
            }
            if (!seen.Add(key(records[i]))) throw new QuantizationException($"{path}: {twice(key(records[i]))}");
        }
    }

    /// <summary>The layer report of a quant.json: one decision per Conv2d/Linear.</summary>
    public static IReadOnlyList<QuantLayerDecision> ReadReport(string path) => Read(path).Report;
}
