using System.Globalization;
using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Sensitivity;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

using Slim.Training;

namespace Slim.Pipeline;

/// <summary>What a sensitivity run left behind: the curves, the files, and the ratios chosen from them (if asked).</summary>
/// <param name="Result">The curves of the analysed parameters at the asked ratios.</param>
/// <param name="Chosen">Targets chosen from the curves (every requested parameter, coupled ones sharing a ratio), or null when no selection was asked.</param>
/// <param name="Table">The loss table as plain text.</param>
/// <param name="ResumedPoints">Points taken from an earlier, interrupted run.</param>
public sealed record SensitivityOutcome(SensitivityResult Result, IReadOnlyList<PruneTarget>? Chosen, string Table, int ResumedPoints)
{
    /// <summary>The chosen targets in command-line form (<c>--pruned_params … --pruned_ratios …</c>), or null.</summary>
    public string? ChosenArguments => Chosen is null ? null : PruneSensitivity.Arguments(Chosen);
}

/// <summary>
/// Sensitivity analysis of a trained model for the prune stage and <c>slim sensitivity</c>: each
/// parameter pruned alone at each ratio, the metric measured on (a subset of) the validation set,
/// results saved after every point (<see cref="JsonName"/>, resumable), drawn (<see cref="PngName"/>)
/// and tabulated (<see cref="TableName"/>); optionally per-layer ratios chosen from the curves for a
/// FLOPs target or a largest accepted loss (<see cref="ChosenName"/>).
/// </summary>
public static class PruneSensitivity
{
    public const string JsonName = "sensitivity.json";
    public const string PngName = "sensitivity.png";
    public const string TableName = "sensitivity.txt";
    public const string ChosenName = "chosen_ratios.txt";

    /// <param name="model">The trained model (not changed; each point prunes a copy).</param>
    /// <param name="create">Builds a fresh model of the same architecture and options (each point prunes a copy).</param>
    /// <param name="graph">Its channel graph.</param>
    /// <param name="parameters">The conv weights to analyse (already expanded); of coupled ones only the first is measured.</param>
    /// <param name="section">Ratios and the selection settings.</param>
    /// <param name="criterion">Registry name of the criterion.</param>
    /// <param name="metric">Higher-is-better metric of a model (for detectors: VOC AP on the chosen validation images).</param>
    /// <param name="dir">Where the files go.</param>
    /// <param name="resume">Reuse the points of an earlier run in dir; otherwise an old result there is discarded.</param>
    /// <param name="progress">Receives a line per measured point.</param>
    /// <param name="cancel">Stops between points; the measured ones stay in the JSON file.</param>
    /// <param name="metricName">How progress lines name the metric.</param>
    /// <param name="images">Validation images the metric scores, said in the table's title (null: not said).</param>
    /// <param name="group">Several processes share the points (rank 0's file is resumed); null in one process.</param>
    /// <param name="latency">With target_latency_reduction: chooses the ratios of the measured parameters from the curves
    /// (<see cref="PruneLatency"/>) and says how; only the prune stage can, as it times the exported model.</param>
    public static SensitivityOutcome Run(torch.nn.Module model, Func<torch.nn.Module> create, ChannelDependencyGraph graph,
        IReadOnlyList<string> parameters, SensitivitySection section, string criterion, Func<torch.nn.Module, double> metric,
        string dir, bool resume, IProgressSink progress, CancellationToken cancel, string metricName = "metric", int? images = null,
        ProcessGroup? group = null, Func<SensitivityResult, (IReadOnlyList<PruneTarget> Picked, string How)>? latency = null)
    {
        if (section.Ratios.Count == 0) throw new PruningException("sensitivity: ratios is empty; give ratios such as 0.1,0.3,0.5");
        CheckSelection(section);
        if (section.TargetLatencyReduction > 0 && latency is null)
            throw new PruningException("sensitivity: target_latency_reduction is chosen by the prune stage (it times the exported model); use target_flops_reduction or max_loss here");
        // One measured parameter per channel group: coupled parameters are pruned together anyway.
        var measured = new List<string>();
        var representative = new Dictionary<string, string>(StringComparer.Ordinal);
        var byGroup = new Dictionary<int, string>();
        foreach (var p in parameters)
        {
            var g = graph.GroupOf(p);
            if (!byGroup.TryGetValue(g.Id, out var first))
            {
                byGroup[g.Id] = first = p;
                measured.Add(p);
            }
            representative[p] = first;
        }

        Directory.CreateDirectory(dir);
        var json = Path.Combine(dir, JsonName);
        int resumed = 0;
        if (File.Exists(json))
        {
            if (resume)
            {
                resumed = SensitivityResult.Load(json).Points.Count;
                progress.Info($"sensitivity: resuming from {json} ({resumed} points measured)");
            }
            else File.Delete(json);
        }
        var ratios = section.Ratios.Distinct().OrderBy(r => r).ToList();
        int total = measured.Count * ratios.Count, done = 0;
        // "of the unpruned model": the analysis scores on its own validation subset, so its unpruned score is not the
        // full-set score logged before it; the table after the points names both the score and the subset.
        var of = images is { } n ? $"of the unpruned model on the same {n} image{(n == 1 ? "" : "s")}" : "of the unpruned model";
        var full = SensitivityAnalysis.Run(model, create, graph, metric,
            new SensitivityOptions { Parameters = measured, Ratios = ratios, Criterion = criterion, ResultPath = json, Group = group },
            pt =>
            {
                done++;
                progress.Info(string.Create(CultureInfo.InvariantCulture,
                    $"sensitivity: {pt.Parameter} at {pt.Ratio:0.##}: {metricName} {pt.Metric * 100:F2} %, loss {pt.Loss * 100:F2} % {of} ({done} new, {total} points in all)"));
            }, cancel);

        // Only the asked parameters and ratios: a reused file may hold points of another selection.
        var result = new SensitivityResult(full.Criterion, full.Baseline, full.Points
            .Where(p => measured.Contains(p.Parameter) && ratios.Any(r => Math.Abs(r - p.Ratio) < 1e-9)).ToList());
        Plots.SensitivityChart.Save(result, Path.Combine(dir, PngName));
        var table = SensitivityTable.Build(result, images).ToText();
        AtomicFile.WriteAllText(Path.Combine(dir, TableName), table + "\n");

        IReadOnlyList<PruneTarget>? chosen = null;
        if (Chooses(section))
        {
            IReadOnlyList<PruneTarget> picked;
            string? how = null;
            if (section.TargetLatencyReduction > 0)
                (picked, how) = latency!(result);
            else if (section.TargetFlopsReduction > 0)
                picked = RatioSelection.ForFlopsReduction(result, graph, section.TargetFlopsReduction);
            else
            {
                // max_loss is absolute AP; the curves hold loss relative to the unpruned metric.
                double relative = result.Baseline > 0 ? section.MaxLoss / result.Baseline : section.MaxLoss;
                picked = RatioSelection.ByMaxLoss(result, relative);
            }
            var ratioOf = picked.ToDictionary(t => t.Parameter, t => t.Ratio, StringComparer.Ordinal);
            chosen = parameters.Select(p => new PruneTarget(p, ratioOf[representative[p]])).ToList();
            how ??= section.TargetFlopsReduction > 0
                ? string.Create(CultureInfo.InvariantCulture, $"FLOPs reduction ≥ {section.TargetFlopsReduction * 100:0.#} % with the least loss")
                : string.Create(CultureInfo.InvariantCulture, $"loss ≤ {section.MaxLoss * 100:0.##} pts per layer");
            AtomicFile.WriteAllText(Path.Combine(dir, ChosenName), $"# ratios chosen from {JsonName}: {how}\n{Arguments(chosen)}\n");
        }
        return new SensitivityOutcome(result, chosen, table, resumed);
    }

    /// <summary>Whether the section chooses the ratios (a FLOPs or latency target, or a largest loss).</summary>
    public static bool Chooses(SensitivitySection s) => s.TargetFlopsReduction > 0 || s.TargetLatencyReduction > 0 || s.MaxLoss > 0;

    /// <summary>At most one way of choosing the ratios; latency_table only with a latency target.</summary>
    public static void CheckSelection(SensitivitySection s)
    {
        if ((s.TargetFlopsReduction > 0 ? 1 : 0) + (s.TargetLatencyReduction > 0 ? 1 : 0) + (s.MaxLoss > 0 ? 1 : 0) > 1)
            throw new PruningException("sensitivity: give one of target_flops_reduction, target_latency_reduction and max_loss, not several");
        if (s.LatencyTable is not null && !(s.TargetLatencyReduction > 0))
            throw new PruningException("sensitivity.latency_table is read only with target_latency_reduction; set it (e.g. 0.3) or remove latency_table");
    }

    /// <summary>Targets as the options that reproduce them.</summary>
    public static string Arguments(IReadOnlyList<PruneTarget> targets) =>
        $"--pruned_params {string.Join(",", targets.Select(t => t.Parameter))} --pruned_ratios {PruningRatios.Format(targets.Select(t => t.Ratio))}";
}
