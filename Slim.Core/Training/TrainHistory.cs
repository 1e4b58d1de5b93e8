using System.Text.Json;
using System.Text.Json.Serialization;

namespace Slim.Training;

/// <summary>One evaluation during training: the iteration after which it ran and the metric (a fraction, higher is better).</summary>
public sealed record EvalPoint(long Iteration, double Metric);

/// <summary>
/// The training curve of one run: the loss and learning rate of every iteration, and every evaluation. The
/// <see cref="Trainer"/> writes it beside its checkpoints (<see cref="FileName"/>) just before each last.ckpt, so a
/// resumed run drops what came after its checkpoint and ends with the same file as an uninterrupted one.
/// </summary>
public sealed class TrainHistory
{
    public const string FileName = "history.json";

    [JsonPropertyName("iteration")] public List<long> Iteration { get; init; } = [];
    [JsonPropertyName("loss")] public List<double> Loss { get; init; } = [];
    [JsonPropertyName("lr")] public List<double> Lr { get; init; } = [];
    [JsonPropertyName("evals")] public List<EvalPoint> Evals { get; init; } = [];

    public void AddStep(long iteration, double loss, double lr)
    {
        Iteration.Add(iteration);
        Loss.Add(loss);
        Lr.Add(lr);
    }

    public void AddEval(long iteration, double metric) => Evals.Add(new EvalPoint(iteration, metric));

    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Options) + "\n");

    /// <summary>Reads a history; with <paramref name="upTo"/>, keeps only what happened up to that iteration.</summary>
    public static TrainHistory Load(string path, long? upTo = null)
    {
        TrainHistory h;
        try
        {
            h = JsonSerializer.Deserialize<TrainHistory>(File.ReadAllText(path), Options) ?? new TrainHistory();
        }
        catch (JsonException e)
        {
            throw new SlimException($"{path}: not a training history ({JsonErrors.Describe(e)}); delete it to start the curve afresh");
        }
        if (h.Iteration.Count != h.Loss.Count || h.Loss.Count != h.Lr.Count)
            throw new SlimException($"{path}: iteration, loss and lr have different lengths ({h.Iteration.Count}, {h.Loss.Count}, {h.Lr.Count})");
        if (upTo is long n)
        {
            int keep = h.Iteration.FindIndex(i => i > n);
            if (keep >= 0)
            {
                h.Iteration.RemoveRange(keep, h.Iteration.Count - keep);
                h.Loss.RemoveRange(keep, h.Loss.Count - keep);
                h.Lr.RemoveRange(keep, h.Lr.Count - keep);
            }
            h.Evals.RemoveAll(e => e.Iteration > n);
        }
        return h;
    }

    private static readonly JsonSerializerOptions Options = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
}
