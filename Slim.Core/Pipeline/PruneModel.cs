using System.Globalization;
using Slim.Analysis;
using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Pipeline;

/// <summary>What pruning one model did: the plan, the applied change, the costs before and after, and options that rebuild it.</summary>
/// <param name="Targets">The parameters and ratios that were pruned.</param>
/// <param name="Plan">The channels each group lost.</param>
/// <param name="Report">Per-layer channel changes as applied.</param>
/// <param name="Before">GFLOPs, parameters and size of the unpruned model.</param>
/// <param name="After">The same of the pruned model.</param>
/// <param name="Options">The input options with the pruned conv widths as channel overrides: ModelRegistry.Create(arch, Options) builds the pruned architecture.</param>
public sealed record PruneResult(IReadOnlyList<PruneTarget> Targets, PruningPlan Plan, PruningReport Report, ModelStats Before, ModelStats After, ModelOptions Options);

/// <summary>
/// The steps every pruning front end shares (the prune stage, <c>slim prune</c>, <c>slim flops
/// --pruned_ratios</c>): trace the channel graph of a registry model, turn --pruned_params and
/// --pruned_ratios into targets, prune physically, and describe the result as model options whose
/// channel overrides rebuild the pruned network from checkpoint metadata.
/// </summary>
public static class PruneModel
{
    /// <summary>Metadata key recording the criterion a checkpoint was pruned with.</summary>
    public const string CriterionKey = "pruning.criterion";
    /// <summary>Metadata key recording the pruned parameters (comma list, --pruned_params form).</summary>
    public const string ParamsKey = "pruning.pruned_params";
    /// <summary>Metadata key recording the ratios (--pruned_ratios form).</summary>
    public const string RatiosKey = "pruning.pruned_ratios";

    /// <summary>The registry name of a recipe criterion (<c>l1_norm</c>, <c>geometry_median</c>, <c>bn_scale</c>).</summary>
    public static string CriterionName(PruneCriterion criterion) => criterion switch
    {
        PruneCriterion.L1Norm => "l1_norm",
        PruneCriterion.GeometryMedian => "geometry_median",
        PruneCriterion.BnScale => "bn_scale",
        _ => throw new ArgumentOutOfRangeException(nameof(criterion)),
    };

    /// <summary>The recipe criterion of a registry name; an unknown name fails with the registry's message (valid names, nearest).</summary>
    public static PruneCriterion ParseCriterion(string name)
    {
        foreach (var c in Enum.GetValues<PruneCriterion>())
            if (CriterionName(c) == name.Trim()) return c;
        ChannelImportanceRegistry.Get(name.Trim());
        throw new PruningException($"--criterion '{name}' is registered but has no recipe name; use one of l1_norm, geometry_median, bn_scale");
    }

    /// <summary>Runs a model that maps one tensor to its output(s); the default forward where no family's is given.</summary>
    public static Func<Tensor, IEnumerable<Tensor>> Forward(torch.nn.Module model) => model switch
    {
        torch.nn.Module<Tensor, Tensor[]> det => x => det.call(x),
        torch.nn.Module<Tensor, Tensor> cls => x => new[] { cls.call(x) },
        _ => throw new SlimException($"cannot prune a {model.TypeName}: it does not map one tensor to its outputs"),
    };

    /// <summary>The [1, C, S, S] input shape of a model's options.</summary>
    public static long[] InputShape(ModelOptions options) => new long[] { 1, options.InChannels, options.InputSize, options.InputSize };

    /// <summary>
    /// Traces model on zeros of its input size and builds its channel dependency graph (needs no data).
    /// <paramref name="forward"/> is the family's forward (<see cref="Slim.Tasks.TaskFamily.Forward"/>); null: <see cref="Forward"/>.
    /// </summary>
    public static ChannelDependencyGraph Graph(torch.nn.Module model, ModelOptions options, Func<Tensor, IEnumerable<Tensor>>? forward = null)
    {
        forward ??= Forward(model);
        using var scope = torch.NewDisposeScope();
        var x = torch.zeros(InputShape(options));
        return ChannelDependencyGraph.Build(model, new[] { x }, xs => forward(xs[0]));
    }

    /// <summary>GFLOPs, parameters and size at the options' input size.</summary>
    public static ModelStats Stats(torch.nn.Module model, ModelOptions options, Func<Tensor, IEnumerable<Tensor>>? forward = null) =>
        ModelStats.Compute(model, InputShape(options), forward ?? Forward(model));

    /// <summary>The pruned_ratios prefix of a FLOPs target: "flops:0.3" prunes the parameters' groups by one ratio found so the GFLOPs drop 30%.</summary>
    public const string FlopsRatioPrefix = "flops:";

    /// <summary>The FLOPs reduction of a "flops:X" ratio setting, or null for a ratio list or preset; a bad X fails naming the setting.</summary>
    public static double? FlopsTarget(string prunedRatios)
    {
        var ratios = prunedRatios.Trim();
        if (!ratios.StartsWith(FlopsRatioPrefix, StringComparison.OrdinalIgnoreCase)) return null;
        var text = ratios[FlopsRatioPrefix.Length..].Trim();
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double target) || !(target > 0 && target < 1))
            throw new PruningException($"pruned_ratios '{prunedRatios}': the FLOPs target must be a fraction in (0, 1), e.g. \"flops:0.3\" for -30%");
        return target;
    }

    /// <summary>
    /// Parses --pruned_params (comma list of names and globs, or empty with a preset) and --pruned_ratios
    /// (a list, a preset, or "flops:X": one ratio over the named parameters' groups for a FLOPs drop of X) against the graph.
    /// </summary>
    public static IReadOnlyList<PruneTarget> Targets(ChannelDependencyGraph graph, string? prunedParams, string prunedRatios)
    {
        if (FlopsTarget(prunedRatios) is double target)
        {
            if (string.IsNullOrWhiteSpace(prunedParams))
                throw new PruningException($"pruned_ratios '{prunedRatios}' needs the parameters to prune: give pruned_params (\"*\" for every conv)");
            var parameters = PruningRatios.ExpandParameters(prunedParams, graph);
            return UniformPruning.Search(graph, target, parameters: parameters).Targets;
        }
        // Without parameters only a preset works; a mistyped preset should hear about the preset, not the empty list.
        if (string.IsNullOrWhiteSpace(prunedParams) && RatioPresets.Find(prunedRatios) is null)
            PruningRatios.ParseRatios(prunedRatios, prunedRatios.Split(',').Length);
        return PruningRatios.Parse(prunedParams, prunedRatios, graph);
    }

    /// <summary>
    /// Plans with the criterion, removes the channels from model in place, and measures both sides.
    /// The model must be the one the graph was traced from.
    /// </summary>
    public static PruneResult Apply(torch.nn.Module model, ModelOptions options, ChannelDependencyGraph graph,
        IReadOnlyList<PruneTarget> targets, string criterion, Func<Tensor, IEnumerable<Tensor>>? forward = null, int align = 1)
    {
        var pruner = new Pruner(graph, ChannelImportanceRegistry.Get(criterion), align);
        var plan = pruner.Plan(model, targets);
        var before = Stats(model, options, forward);
        var countsBefore = ChannelCounts.FromModel(model);
        var report = Pruner.Apply(model, plan);
        var after = Stats(model, options, forward);
        return new PruneResult(targets, plan, report, before, after, WithCounts(options, countsBefore, report.OutChannels));
    }

    /// <summary>
    /// The options with every conv whose width pruning changed added as a channel override (earlier
    /// overrides of an already pruned model are kept), so the metadata rebuilds the pruned model.
    /// </summary>
    public static ModelOptions WithCounts(ModelOptions options, ChannelCounts before, ChannelCounts after)
    {
        var overrides = new Dictionary<string, int>(options.ChannelOverrides, StringComparer.Ordinal);
        foreach (var (path, c) in after.OutChannels)
            if (!before.OutChannels.TryGetValue(path, out var b) || b != c || overrides.ContainsKey(path))
                overrides[path] = checked((int)c);
        return options with { ChannelOverrides = overrides };
    }

    /// <summary>Checkpoint metadata of a pruned model: options that rebuild it plus what was pruned, with other keys kept.</summary>
    public static Dictionary<string, string> Metadata(string architecture, PruneResult result, string criterion,
        IReadOnlyDictionary<string, string>? inherited = null)
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        if (inherited is not null)
            foreach (var (k, v) in inherited)
                if (!k.StartsWith(ModelOptions.MetadataPrefix, StringComparison.Ordinal) && !k.StartsWith("train.", StringComparison.Ordinal))
                    meta[k] = v;
        foreach (var (k, v) in result.Options.ToMetadata(architecture)) meta[k] = v;
        meta[CriterionKey] = criterion;
        meta[ParamsKey] = string.Join(",", result.Targets.Select(t => t.Parameter));
        meta[RatiosKey] = PruningRatios.Format(result.Targets.Select(t => t.Ratio));
        return meta;
    }

    /// <summary>Writes the model's weights (as "model.*", the trainer's layout) and metadata atomically.</summary>
    public static void Save(string path, torch.nn.Module model, IReadOnlyDictionary<string, string> metadata)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        Checkpoint.Save(full, model.state_dict().Select(kv => new KeyValuePair<string, Tensor>("model." + kv.Key, kv.Value)), metadata);
    }

    /// <summary>A short name of a ratio setting for reports: the preset name, "uniform -30% FLOPs", or "n params".</summary>
    public static string RatioLabel(string prunedRatios, IReadOnlyList<PruneTarget> targets)
    {
        if (RatioPresets.Find(prunedRatios) is not null) return prunedRatios.Trim();
        if (FlopsTarget(prunedRatios) is double t)
            return string.Create(CultureInfo.InvariantCulture, $"uniform r={targets.FirstOrDefault()?.Ratio ?? 0:0.###} (-{t * 100:0.#}% FLOPs)");
        return string.Create(CultureInfo.InvariantCulture, $"{targets.Count} params");
    }
}
