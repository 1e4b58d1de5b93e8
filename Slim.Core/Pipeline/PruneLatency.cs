using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Google.Protobuf;
using Spectre.Console;
using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Sensitivity;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Training;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Pipeline;

/// <summary>One round of the latency-aware choice: the reduction asked of the latency model, what it predicted and what ONNX Runtime measured.</summary>
/// <param name="Asked">The predicted reduction the ratios were chosen for.</param>
/// <param name="PredictedMs">The latency model's time of the chosen ratios, in milliseconds.</param>
/// <param name="MeasuredMs">The pruned model's median time measured here, in milliseconds.</param>
/// <param name="BaselineMs">The unpruned model's median time measured here in the same rounds, in milliseconds.</param>
/// <param name="Ratios">The chosen ratios (of the measured parameters, in their order).</param>
public sealed record LatencyRound(double Asked, double PredictedMs, double MeasuredMs, double BaselineMs, IReadOnlyList<double> Ratios)
{
    [JsonIgnore] public double MeasuredReduction => 1 - MeasuredMs / BaselineMs;
}

/// <summary>What the latency-aware choice settled on.</summary>
/// <param name="Target">The asked latency reduction.</param>
/// <param name="TableMs">The unpruned model's time in the latency table, in milliseconds.</param>
/// <param name="TableSource">Where the table came from: "measured here" or the file it was read from.</param>
/// <param name="Rounds">Every round, in order; the chosen one is <see cref="Chosen"/>.</param>
/// <param name="ChosenRound">The index of the round whose ratios are used: the one whose measured reduction is closest to the target.</param>
/// <param name="Ended">Why the rounds ended (one of the <see cref="PruneLatency"/> <c>Ended…</c> texts).</param>
public sealed record LatencyChoice(double Target, double TableMs, string TableSource, IReadOnlyList<LatencyRound> Rounds, int ChosenRound, string Ended)
{
    [JsonIgnore] public LatencyRound Chosen => Rounds[ChosenRound];
    [JsonIgnore] public double PredictedReduction => 1 - Chosen.PredictedMs / TableMs;
}

/// <summary>
/// Latency-aware pruning ratios (<c>prune.sensitivity.target_latency_reduction</c>): the sensitivity curves choose the
/// ratios (<see cref="RatioSelection.ForLatencyReduction"/>) under a latency model made from a per-layer latency
/// table — measured here in ONNX Runtime on the model as the recipe exports it, or read from
/// <c>latency_table</c> (written by <c>slim latency-table</c> on the target machine). The chosen ratios are then
/// applied to a copy, exported and timed here against the unpruned model. When the table was measured here and the
/// measured reduction misses the target by more than <see cref="Tolerance"/>, the reduction asked of the model is
/// corrected by the miss and the ratios chosen again (at most <see cref="MaxRounds"/> rounds; the closest round
/// wins). A travelled table is used as it is: timings here say nothing about the target machine.
/// <para>
/// Timings vary between runs, so the table used (<see cref="TableName"/>) and the rounds (<see cref="ChoiceName"/>)
/// are saved in the stage folder and a resumed run reuses them: its ratios are the ones first chosen.
/// </para>
/// </summary>
public static class PruneLatency
{
    public const string TableName = "latency_table.json";
    public const string ChoiceName = "latency_choice.json";
    public const string ReportName = "latency.txt";
    public const int MaxRounds = 4;
    public const double Tolerance = 0.01;

    /// <summary>Why the rounds ended: a round measured within <see cref="Tolerance"/> of the target.</summary>
    public const string EndedOnTarget = "measured within 1 point of the target";
    /// <summary>Why the rounds ended: <see cref="MaxRounds"/> rounds.</summary>
    public const string EndedAfterMaxRounds = "the last of the rounds";
    /// <summary>Why the rounds ended: the correction asked more than the measured ratios can give.</summary>
    public const string EndedBeyondReach = "the next correction is beyond the measured ratios";
    /// <summary>Why the rounds ended: a travelled table gets one round (timings here say nothing of the target machine).</summary>
    public const string EndedTravelled = "a table from elsewhere is used as it is";

    // Back-to-back timings of the unpruned and the pruned model, and runs per timing (see TimePair).
    private const int TimingPairs = 6;
    private const int RunsPerTiming = 10;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>A choice saved in a stage folder (<see cref="ChoiceName"/>).</summary>
    public static LatencyChoice ReadChoice(string path) =>
        JsonSerializer.Deserialize<LatencyChoice>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: empty latency choice");

    /// <summary>The table a recipe names, read and checked (a clear error naming the setting when it is not one).</summary>
    public static LayerLatencyTable ReadTable(string path)
    {
        if (!File.Exists(path)) throw new SlimException($"sensitivity.latency_table '{path}': no such file; write one with slim latency-table MODEL --out FILE");
        try
        {
            return LayerLatencyTable.FromJson(File.ReadAllText(path), path);
        }
        catch (InvalidDataException e)
        {
            throw new SlimException($"sensitivity.latency_table {e.Message}");
        }
    }

    /// <param name="family">The model's family (export and forward).</param>
    /// <param name="inputsOf">The inputs of an exported file (the task's sample image), for the timed runs.</param>
    /// <param name="arch">Its architecture.</param>
    /// <param name="options">Its options (input size, channel overrides of an already pruned model).</param>
    /// <param name="create">Builds a fresh model of the same architecture and options (timing copies; weights do not matter).</param>
    /// <param name="graph">The channel graph of the unpruned model.</param>
    /// <param name="result">The sensitivity curves of the measured parameters.</param>
    /// <param name="section">target_latency_reduction, latency_table, latency_threads.</param>
    /// <param name="export">The recipe's export settings: the timed model is the one the run exports.</param>
    /// <param name="criterion">Registry name of the criterion (the copies are pruned with it).</param>
    /// <param name="align">prune.align.</param>
    /// <param name="dir">The stage folder.</param>
    /// <param name="resume">Reuse a saved table and choice.</param>
    /// <param name="progress">Receives a line per round.</param>
    /// <param name="cancel">Stops between rounds.</param>
    public static LatencyChoice Choose(TaskFamily family, Func<string, IReadOnlyDictionary<string, OrtTensor>> inputsOf, string arch, ModelOptions options, Func<nn.Module> create,
        ChannelDependencyGraph graph, SensitivityResult result, SensitivitySection section, ExportSection export, string criterion, int align,
        string dir, bool resume, IProgressSink progress, CancellationToken cancel)
    {
        var inv = CultureInfo.InvariantCulture;
        double target = section.TargetLatencyReduction;
        var parameters = result.Parameters;
        var choicePath = Path.Combine(dir, ChoiceName);
        if (resume && File.Exists(choicePath))
        {
            var saved = ReadChoice(choicePath);
            if (Math.Abs(saved.Target - target) < 1e-12 && saved.Chosen.Ratios.Count == parameters.Count)
            {
                progress.Info($"latency: resuming with the ratios chosen before ({choicePath})");
                return saved;
            }
        }

        var tmp = Path.Combine(Path.GetTempPath(), $"slim-latency-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            var basePath = Path.Combine(tmp, "unpruned.onnx");
            using (var fresh = create()) Write(family, arch, options, fresh, export, basePath);
            var runner = OrtRunner.Create();
            var inputs = inputsOf(basePath);

            // The table: travelled, saved by an earlier try of this stage, or measured now.
            var tablePath = Path.Combine(dir, TableName);
            LayerLatencyTable table;
            string source;
            bool measuredHere;
            if (section.LatencyTable is { } travelled)
            {
                table = ReadTable(travelled);
                (source, measuredHere) = (travelled, false);
            }
            else if (resume && File.Exists(tablePath))
            {
                table = LayerLatencyTable.FromJson(File.ReadAllText(tablePath), tablePath);
                (source, measuredHere) = ("measured here (saved)", true);
            }
            else
            {
                int threads = section.LatencyThreads;
                progress.Info($"latency: profiling the unpruned model in ONNX Runtime ({threads} thread(s))");
                table = runner.MeasureLayers(basePath, inputs, threads, warmup: 5, runs: 20);
                (source, measuredHere) = ("measured here", true);
            }
            AtomicFile.WriteAllText(tablePath, table.ToJson());
            var model = Model(table, graph, source);
            progress.Info(string.Create(inv, $"latency: {model.MatchedLayers} conv layers timed, {model.ScaledMs:F3} of {model.TotalMs:F3} ms scale with pruning ({source})"));

            var rounds = new List<LatencyRound>();
            double asked = target;
            string ended = measuredHere ? EndedAfterMaxRounds : EndedTravelled;
            for (int round = 0; round < (measuredHere ? MaxRounds : 1); round++)
            {
                cancel.ThrowIfCancellationRequested();
                IReadOnlyList<PruneTarget> picked;
                try
                {
                    picked = RatioSelection.ForLatencyReduction(result, graph, model, asked);
                }
                catch (PruningException) when (round > 0)
                {
                    // A correction beyond what the measured ratios can reach: keep the rounds so far.
                    progress.Info(string.Create(inv, $"latency: -{asked * 100:F1} % is beyond the measured ratios; stopping after {round} round(s)"));
                    ended = EndedBeyondReach;
                    break;
                }
                double predicted = model.Predict(picked);
                var prunedPath = Path.Combine(tmp, $"pruned{round}.onnx");
                using (var copy = create())
                {
                    var forward = (Func<Tensor, IEnumerable<Tensor>>)(x => family.Forward(copy, x));
                    var pruned = PruneModel.Apply(copy, options, PruneModel.Graph(copy, options, forward), picked, criterion, forward, align);
                    Write(family, arch, pruned.Options, copy, export, prunedPath);
                }
                var (baseMs, prunedMs) = TimePair(runner, basePath, prunedPath, inputs, measuredHere ? table.Threads : section.LatencyThreads);
                var done = new LatencyRound(asked, predicted, prunedMs, baseMs, picked.Select(t => t.Ratio).ToList());
                rounds.Add(done);
                progress.Info(string.Create(inv,
                    $"latency: round {round + 1}: asked the model for -{asked * 100:F1} %, predicted {predicted:F3} ms (-{(1 - predicted / model.TotalMs) * 100:F1} %), " +
                    $"measured {prunedMs:F3} ms against {baseMs:F3} ms (-{done.MeasuredReduction * 100:F1} %; target -{target * 100:F1} %)"));
                double miss = target - done.MeasuredReduction;
                if (Math.Abs(miss) <= Tolerance)
                {
                    ended = EndedOnTarget;
                    break;
                }
                // Correct what is asked of the model by the miss (the model's error is close to constant near the target).
                asked = Math.Clamp(asked + miss, 0.01, 0.95);
            }
            int chosen = Enumerable.Range(0, rounds.Count).MinBy(i => Math.Abs(rounds[i].MeasuredReduction - target));
            var choice = new LatencyChoice(target, model.TotalMs, source, rounds, chosen, ended);
            AtomicFile.WriteAllText(choicePath, JsonSerializer.Serialize(choice, Json));
            AtomicFile.WriteAllText(Path.Combine(dir, ReportName), Report(choice, parameters) + "\n");
            return choice;
        }
        finally
        {
            try { Directory.Delete(tmp, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The latency model of a table on a model's graph; a table that names none of its convs fails naming <paramref name="source"/>.</summary>
    public static PruningLatency Model(LayerLatencyTable table, ChannelDependencyGraph graph, string source)
    {
        var model = new PruningLatency(graph, table.Layers.ToDictionary(l => l.ModulePath, l => l.Ms, StringComparer.Ordinal), Math.Max(table.MedianMs, table.KernelMs));
        if (model.MatchedLayers == 0)
            throw new SlimException($"sensitivity.latency_table {source}: names none of the model's conv layers (was it measured on another model? " +
                $"its layers are like '{table.Layers.FirstOrDefault()?.ModulePath}')");
        return model;
    }

    /// <summary>
    /// The unpruned and the pruned file timed back to back in <see cref="TimingPairs"/> pairs (the order alternating, so a
    /// slow drift of the machine's speed hurts neither), each the median of <see cref="RunsPerTiming"/> runs. Returns the
    /// unpruned model's median over the pairs and the pruned time that the median of the pairs' ratios gives it: the
    /// ratio of two back-to-back timings varies far less than either timing does on a shared machine.
    /// </summary>
    private static (double BaseMs, double PrunedMs) TimePair(OrtRunner runner, string basePath, string prunedPath,
        IReadOnlyDictionary<string, OrtTensor> inputs, int threads)
    {
        var bases = new List<double>();
        var ratios = new List<double>();
        runner.MeasureLatency(basePath, inputs, threads, warmup: 3, runs: 1);
        runner.MeasureLatency(prunedPath, inputs, threads, warmup: 3, runs: 1);
        for (int k = 0; k < TimingPairs; k++)
        {
            double Time(string path) => runner.MeasureLatency(path, inputs, threads, warmup: 1, runs: RunsPerTiming).MedianMs;
            double b, p;
            if (k % 2 == 0) { b = Time(basePath); p = Time(prunedPath); }
            else { p = Time(prunedPath); b = Time(basePath); }
            bases.Add(b);
            ratios.Add(p / b);
        }
        double baseMs = OrtRunner.Quantile(bases.Order().ToArray(), 0.5);
        return (baseMs, baseMs * OrtRunner.Quantile(ratios.Order().ToArray(), 0.5));
    }

    /// <summary>The rounds as a table: asked, predicted and measured latency, and the chosen ratios.</summary>
    public static string Report(LatencyChoice choice, IReadOnlyList<string> parameters)
    {
        var inv = CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Rounded)
            .Title(Markup.Escape(string.Create(inv, $"latency-aware ratios: target -{choice.Target * 100:F1} %; table {choice.TableSource}, {choice.TableMs:F3} ms unpruned")))
            .AddColumn("round");
        foreach (var c in new[] { "asked", "predicted ms", "predicted", "unpruned ms", "pruned ms", "measured" }) table.AddColumn(new TableColumn(c).RightAligned());
        for (int i = 0; i < choice.Rounds.Count; i++)
        {
            var r = choice.Rounds[i];
            table.AddRow((i + 1).ToString(inv) + (i == choice.ChosenRound ? " *" : ""),
                string.Create(inv, $"-{r.Asked * 100:F1} %"), string.Create(inv, $"{r.PredictedMs:F3}"),
                string.Create(inv, $"-{(1 - r.PredictedMs / choice.TableMs) * 100:F1} %"), string.Create(inv, $"{r.BaselineMs:F3}"),
                string.Create(inv, $"{r.MeasuredMs:F3}"), string.Create(inv, $"-{r.MeasuredReduction * 100:F1} %"));
        }
        var sb = new StringBuilder();
        sb.AppendLine(PruneTables.Render(table.FitTitle()));
        sb.AppendLine($"rounds ended: {choice.Ended}");
        sb.AppendLine($"* chosen: measured closest to the target; measured here in ONNX Runtime: pruned ms = unpruned ms × the median ratio of {TimingPairs} back-to-back timings (medians of {RunsPerTiming} runs)");
        sb.AppendLine(PruneSensitivity.Arguments(parameters.Select((p, i) => new PruneTarget(p, choice.Chosen.Ratios[i])).ToList()));
        return sb.ToString().TrimEnd();
    }

    private static void Write(TaskFamily family, string arch, ModelOptions options, nn.Module model, ExportSection export, string path)
    {
        model.eval();
        var info = new ExportModelInfo(null, options.InputSize, arch);
        var proto = OnnxExporter.Export(model, family.ExportOptions(arch, options, info, export), x => family.ExportForward(model, x, export));
        using var s = File.Create(path);
        proto.WriteTo(s);
    }
}
