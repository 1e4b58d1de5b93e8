using System.Globalization;
using System.Text.RegularExpressions;

namespace Slim.Compression.Pruning;

/// <summary>
/// Parses <c>--pruned_params</c> and <c>--pruned_ratios</c> into checked targets, failing before
/// any work starts on: a name or glob that matches nothing (with the nearest names), a
/// non-convolution or unprunable parameter, a ratio outside [0, 1), a ratio list whose length
/// fits neither one ratio nor one per parameter, and a preset whose length differs from the
/// parameter list.
/// </summary>
public static class PruningRatios
{
    /// <summary>
    /// Channels removed from a group of <paramref name="channels"/> at <paramref name="ratio"/>:
    /// round(C · ratio) with midpoints rounded away from zero (0.5 → 1, as Paddle's round), and at
    /// least one channel always kept.
    /// </summary>
    public static int ChannelsToRemove(int channels, double ratio) =>
        Math.Min(channels - 1, (int)Math.Round(channels * ratio, MidpointRounding.AwayFromZero));

    /// <summary>
    /// Channels a group of <paramref name="channels"/> keeps at <paramref name="ratio"/>, with the kept count rounded to
    /// the nearest multiple of <paramref name="align"/> (halfway: up), as close in FLOPs as a multiple can be: what
    /// int8 and SIMD kernels run fastest (channel counts that are multiples of 8 or 16). Never below
    /// <paramref name="align"/> nor above the group (a nearest multiple beyond it keeps the whole group); a group that
    /// keeps all its channels, or has no more than <paramref name="align"/>, keeps what the ratio alone gives.
    /// </summary>
    public static int ChannelsToKeep(int channels, double ratio, int align = 1)
    {
        if (align < 1) throw new PruningException($"align {align}: expected 1 (off) or a channel multiple such as 8 or 16");
        int keep = channels - ChannelsToRemove(channels, ratio);
        if (align == 1 || keep == channels || channels <= align) return keep;
        int aligned = (int)Math.Round((double)keep / align, MidpointRounding.AwayFromZero) * align;
        return Math.Min(channels, Math.Max(align, aligned));
    }

    /// <summary>
    /// Expands the comma list of exact names and <c>*</c> globs into conv weight names, in list order
    /// (a glob's matches in model order). Globs skip depthwise weights, whose channels follow their producer, and convs
    /// whose output channels are a model output (a segmenter's class maps); named exactly, those are refused with the reason.
    /// </summary>
    public static IReadOnlyList<string> ExpandParameters(string prunedParams, ChannelDependencyGraph graph)
    {
        var result = new List<string>();
        foreach (var raw in prunedParams.Split(','))
        {
            var item = raw.Trim();
            if (item.Length == 0) throw new PruningException($"--pruned_params '{prunedParams}' has an empty entry");
            IEnumerable<string> matches;
            if (item.Contains('*'))
            {
                var re = new Regex("^" + string.Join(".*", item.Split('*').Select(Regex.Escape)) + "$");
                var all = graph.ParameterNames.Where(n => re.IsMatch(n)).ToList();
                if (all.Count == 0)
                    throw new PruningException($"--pruned_params: '{item}' matches no parameter" + Slim.Common.Suggest.NearestClause(item, graph.ParameterNames));
                var convs = all.Where(graph.IsConvWeight).Where(n => !graph.IsDepthwiseWeight(n) && !graph.FeedsModelOutput(n)).ToList();
                var outputs = all.Where(graph.FeedsModelOutput).ToList();
                if (convs.Count == 0 && outputs.Count > 0)
                    throw new PruningException($"--pruned_params: '{item}' matches only convs whose channels reach a model output, which cannot be pruned " +
                        $"({string.Join(", ", outputs.Take(3).Select(n => $"'{n}'"))}{(outputs.Count > 3 ? ", …" : "")})");
                if (convs.Count == 0)
                    throw new PruningException($"--pruned_params: '{item}' matches only parameters that are not prunable convolution weights " +
                        $"({string.Join(", ", all.Take(3).Select(n => $"'{n}'"))}{(all.Count > 3 ? ", …" : "")})");
                matches = convs;
            }
            else
            {
                if (!graph.ParameterNames.Contains(item))
                    throw new PruningException($"--pruned_params: no parameter '{item}' in the model" + Slim.Common.Suggest.NearestClause(item, graph.ParameterNames));
                matches = new[] { item };
            }
            foreach (var m in matches)
            {
                if (result.Contains(m)) throw new PruningException($"--pruned_params: '{m}' is listed more than once");
                result.Add(m);
            }
        }
        return result;
    }

    /// <summary>Parses a ratio list (or a preset name) for <paramref name="count"/> parameters.</summary>
    public static IReadOnlyList<double> ParseRatios(string prunedRatios, int count, IReadOnlyList<string>? parameters = null)
    {
        var text = prunedRatios.Trim();
        if (RatioPresets.Find(text) is { } preset)
        {
            if (preset.Count != count)
                throw new PruningException($"--pruned_ratios preset '{text}' has {preset.Count} ratios (for the YOLOv3 head parameters " +
                    $"{RatioPresets.YoloHeadParameters[0]} … {RatioPresets.YoloHeadParameters[^1]}) but --pruned_params names {count} parameters");
            return preset;
        }
        var items = text.Split(',');
        var ratios = new List<double>();
        for (int i = 0; i < items.Length; i++)
        {
            var s = items[i].Trim();
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var r))
                throw new PruningException($"--pruned_ratios: '{s}' (item {i + 1}) is neither a number nor a preset " +
                    $"({string.Join(", ", RatioPresets.Names)})" + (items.Length == 1 ? Slim.Common.Suggest.NearestClause(s, RatioPresets.Names, 1) : ""));
            ratios.Add(r);
        }
        if (ratios.Count != 1 && ratios.Count != count)
            throw new PruningException($"--pruned_ratios has {ratios.Count} ratios but --pruned_params names {count} parameters: " +
                "give one ratio for all or one per parameter");
        for (int i = 0; i < ratios.Count; i++)
            if (!(ratios[i] >= 0 && ratios[i] < 1))
                throw new PruningException($"--pruned_ratios: ratio {ratios[i].ToString(CultureInfo.InvariantCulture)} (item {i + 1}" +
                    (parameters is not null && ratios.Count == count ? $", for '{parameters[i]}'" : "") + ") is outside [0, 1)");
        return ratios.Count == 1 ? Enumerable.Repeat(ratios[0], count).ToList() : ratios;
    }

    /// <summary>
    /// Parses both options into targets and checks each parameter is a prunable conv weight and that
    /// coupled parameters (one channel group) get one ratio. With a preset and no parameters, the
    /// preset's own parameter list is used.
    /// </summary>
    public static IReadOnlyList<PruneTarget> Parse(string? prunedParams, string prunedRatios, ChannelDependencyGraph graph)
    {
        IReadOnlyList<string> names;
        if (string.IsNullOrWhiteSpace(prunedParams))
        {
            if (RatioPresets.Find(prunedRatios) is null)
                throw new PruningException("--pruned_params is empty: name the conv weights to prune (exact names or globs with '*')");
            names = ExpandParameters(string.Join(",", RatioPresets.YoloHeadParameters), graph);
        }
        else names = ExpandParameters(prunedParams, graph);
        var ratios = ParseRatios(prunedRatios, names.Count, names);
        var targets = names.Select((n, i) => new PruneTarget(n, ratios[i])).ToList();
        Validate(targets, graph);
        return targets;
    }

    /// <summary>Checks every target names a prunable conv weight and coupled targets agree on their ratio.</summary>
    public static void Validate(IReadOnlyList<PruneTarget> targets, ChannelDependencyGraph graph)
    {
        var byGroup = new Dictionary<int, PruneTarget>();
        foreach (var t in targets)
        {
            if (!(t.Ratio >= 0 && t.Ratio < 1))
                throw new PruningException($"pruning ratio {t.Ratio.ToString(CultureInfo.InvariantCulture)} for '{t.Parameter}' is outside [0, 1)");
            var g = graph.GroupOf(t.Parameter);
            if (byGroup.TryGetValue(g.Id, out var other) && other.Ratio != t.Ratio)
                throw new PruningException($"'{other.Parameter}' and '{t.Parameter}' are coupled (their channels are pruned together) " +
                    $"but have different ratios {other.Ratio.ToString(CultureInfo.InvariantCulture)} and {t.Ratio.ToString(CultureInfo.InvariantCulture)}");
            byGroup.TryAdd(g.Id, t);
        }
    }

    /// <summary>Writes ratios in the exact form --pruned_ratios reads ("0.3,0.25,0.5").</summary>
    public static string Format(IEnumerable<double> ratios) =>
        string.Join(",", ratios.Select(r => Math.Round(r, 4).ToString("0.####", CultureInfo.InvariantCulture)));
}
