using Slim.Compression.Pruning.Importance;
using Slim.Torch;

namespace Slim.Compression.Pruning.Sensitivity;

/// <summary>
/// How much a metric suffers when one layer is pruned alone, for each chosen parameter and
/// ratio (PaddleSlim's sensitivity analysis). Each point prunes a fresh copy of the model, so
/// points are independent; results are saved after every point and reused when the same result
/// file is given again.
/// </summary>
public static class SensitivityAnalysis
{
    /// <param name="model">The trained model (not changed).</param>
    /// <param name="factory">Builds a new model of the same architecture; its weights are loaded from model.</param>
    /// <param name="graph">The channel graph of model.</param>
    /// <param name="metric">Evaluates a model (higher is better), e.g. AP on a validation subset.</param>
    /// <param name="options">Parameters, ratios, criterion and result file.</param>
    /// <param name="progress">Called after each new point.</param>
    /// <param name="cancellation">Stops between points (the finished ones are saved).</param>
    public static SensitivityResult Run(torch.nn.Module model, Func<torch.nn.Module> factory, ChannelDependencyGraph graph,
        Func<torch.nn.Module, double> metric, SensitivityOptions options, Action<SensitivityPoint>? progress = null,
        CancellationToken cancellation = default)
    {
        var importance = ChannelImportanceRegistry.Get(options.Criterion);
        foreach (var r in options.Ratios)
            if (!(r > 0 && r < 1)) throw new PruningException($"sensitivity ratio {r} is outside (0, 1)");
        var groups = new Dictionary<int, string>();
        foreach (var p in options.Parameters)
        {
            var g = graph.GroupOf(p);
            if (groups.TryGetValue(g.Id, out var other))
                throw new PruningException($"sensitivity: '{other}' and '{p}' are coupled (pruned together); analyse only one of them");
            groups[g.Id] = p;
        }

        var group = options.Group is { world_size: > 1 } pg ? pg : null;
        SensitivityResult result;
        if (group is not null && group.rank != 0)
        {
            // Rank 0 reads or starts the file; the others follow its copy.
            result = SensitivityResult.FromJson(Slim.Training.Collectives.BroadcastString(group, null), options.ResultPath);
            result.Save(options.ResultPath);
        }
        else if (File.Exists(options.ResultPath))
        {
            result = SensitivityResult.Load(options.ResultPath);
            if (result.Criterion != importance.Name)
                throw new PruningException($"sensitivity file '{options.ResultPath}' was made with criterion {result.Criterion}, " +
                    $"not {importance.Name}; use another file or the same criterion");
        }
        else
        {
            result = new SensitivityResult(importance.Name, Evaluate(model, factory, null, metric), new List<SensitivityPoint>());
            result.Save(options.ResultPath);
        }
        if (group is { rank: 0 }) Slim.Training.Collectives.BroadcastString(group, result.ToJson());

        var pruner = new Pruner(graph, importance);
        // Round by round, in the one order a single process measures in: rank j measures missing point k + j, then every
        // rank adds the round's points in order (alone, a round is one point).
        int world = group?.world_size ?? 1, rank = group?.rank ?? 0;
        var missing = options.Parameters.SelectMany(p => options.Ratios.Select(r => (p, r))).Where(x => !result.Has(x.p, x.r)).ToList();
        for (int k = 0; k < missing.Count; k += world)
        {
            cancellation.ThrowIfCancellationRequested();
            int mine = k + rank;
            double m = double.NaN;
            if (mine < missing.Count)
                m = Evaluate(model, factory, pruner.Plan(model, new[] { new PruneTarget(missing[mine].p, missing[mine].r) }), metric);
            var round = group is null ? new[] { new[] { m } } : Slim.Training.Collectives.AllGatherDoubles(group, new[] { m });
            for (int j = 0; j < world && k + j < missing.Count; j++)
            {
                var (p, r) = missing[k + j];
                var point = new SensitivityPoint(p, r, round[j][0], result.LossOf(round[j][0]));
                result.Points.Add(point);
                result.Save(options.ResultPath);
                progress?.Invoke(point);
            }
        }
        return result;
    }

    private static double Evaluate(torch.nn.Module model, Func<torch.nn.Module> factory, PruningPlan? plan, Func<torch.nn.Module, double> metric)
    {
        using var scope = torch.NewDisposeScope();
        using var copy = factory();
        copy.load_state_dict(model.state_dict());
        copy.train(model.training);
        if (plan is not null) Pruner.Apply(copy, plan);
        return metric(copy);
    }
}
