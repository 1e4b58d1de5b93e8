using System.Text.Json;
using System.Text.Json.Serialization;

namespace Slim.Compression.Pruning.Sensitivity;

/// <summary>One measurement: the metric with only <see cref="Parameter"/> pruned at <see cref="Ratio"/>.</summary>
public sealed record SensitivityPoint(string Parameter, double Ratio, double Metric, double Loss);

/// <summary>
/// Sensitivity curves: the unpruned metric and, per parameter and ratio, the metric and its
/// relative loss (baseline − metric) / |baseline|. Saved as JSON after every point so an
/// interrupted analysis resumes where it stopped.
/// </summary>
public sealed class SensitivityResult
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    [JsonConstructor]
    public SensitivityResult(string criterion, double baseline, List<SensitivityPoint> points)
    {
        Criterion = criterion;
        Baseline = baseline;
        Points = points;
    }

    public string Criterion { get; }
    public double Baseline { get; }
    public List<SensitivityPoint> Points { get; }

    /// <summary>Parameters in the order they were first measured.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> Parameters => Points.Select(p => p.Parameter).Distinct().ToList();

    /// <summary>The measured points of one parameter, by ratio.</summary>
    public IReadOnlyList<SensitivityPoint> Curve(string parameter) =>
        Points.Where(p => p.Parameter == parameter).OrderBy(p => p.Ratio).ToList();

    public bool Has(string parameter, double ratio) => Points.Any(p => p.Parameter == parameter && Math.Abs(p.Ratio - ratio) < 1e-9);

    /// <summary>Relative loss of a metric value against the baseline (absolute difference when the baseline is 0).</summary>
    public double LossOf(double metric) => Baseline == 0 ? -metric : (Baseline - metric) / Math.Abs(Baseline);

    /// <summary>
    /// The loss of parameter at ratio, linearly interpolated between measured ratios (and from
    /// loss 0 at ratio 0). Ratios beyond the last measured one are an error.
    /// </summary>
    public double InterpolatedLoss(string parameter, double ratio)
    {
        var curve = Curve(parameter);
        if (curve.Count == 0) throw new PruningException($"sensitivity: no measurements for '{parameter}'");
        double r0 = 0, l0 = 0;
        foreach (var p in curve)
        {
            if (ratio <= p.Ratio + 1e-12)
                return p.Ratio - r0 < 1e-12 ? p.Loss : l0 + (p.Loss - l0) * (ratio - r0) / (p.Ratio - r0);
            (r0, l0) = (p.Ratio, p.Loss);
        }
        throw new PruningException($"sensitivity: ratio {ratio} for '{parameter}' is beyond the largest measured ratio {r0}");
    }

    /// <summary>Writes the result atomically (temporary file, then rename).</summary>
    public void Save(string path)
    {
        AtomicFile.WriteAllText(path, ToJson());
    }

    /// <summary>The result as the JSON <see cref="Save"/> writes.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>A result from <see cref="ToJson"/>'s text (<paramref name="source"/> names it in errors).</summary>
    public static SensitivityResult FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<SensitivityResult>(json, Json)
                ?? throw new PruningException($"sensitivity file '{source}' is empty");
        }
        catch (JsonException e)
        {
            throw new PruningException($"sensitivity file '{source}' is not a sensitivity result ({JsonErrors.Describe(e)})");
        }
    }

    public static SensitivityResult Load(string path) => FromJson(File.ReadAllText(path), path);
}
