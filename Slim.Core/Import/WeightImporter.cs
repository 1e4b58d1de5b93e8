using Slim.Torch;

namespace Slim.Import;

/// <summary>What an import did: every Slim tensor loaded or left at its initial values, every source tensor used or not, and why.</summary>
public sealed record ImportReport(string Mapping, IReadOnlyList<(string Source, string Target)> Loaded, long LoadedValues,
    IReadOnlyList<(string Target, string Why)> LeftAtInit, IReadOnlyList<(string Source, string Why)> Unused)
{
    /// <summary>Source tensors whose shape does not fit their target ("name [shape] → target [shape]"); only a dry run reports them instead of failing.</summary>
    public IReadOnlyList<string> Misfits { get; init; } = [];

    /// <summary>The model tensors in scope that no source tensor gives a value ("no source tensor maps to it").</summary>
    public IReadOnlyList<string> Missing => LeftAtInit.Where(l => l.Why == NoSource).Select(l => l.Target).ToList();

    internal const string NoSource = "no source tensor maps to it";

    /// <summary>One line: "320 of 320 tensors loaded (25.6 M values), 0 left at init, 53 source tensors unused".</summary>
    public string Summary => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{Mapping}: {Loaded.Count} of {Loaded.Count + LeftAtInit.Count} tensors loaded ({LoadedValues / 1e6:0.##} M values), {LeftAtInit.Count} left at initial values, {Unused.Count} source tensor(s) not used");
}

/// <summary>
/// Copies another framework's tensors into a Slim model through a <see cref="WeightMap"/>. Every mapped tensor must
/// have the target's shape (a mismatch is an error naming both); nothing matched is an error; the rest is reported.
/// </summary>
public static class WeightImporter
{
    /// <summary>
    /// Maps and checks; with <paramref name="apply"/> copies the values into <paramref name="model"/>. With
    /// <paramref name="only"/>, a prefix of Slim names (e.g. "backbone."), other targets keep their initial values. Every
    /// tensor in scope must get a value (a backbone of another architecture matches a few names by chance) unless
    /// <paramref name="allowMissing"/>. With <paramref name="dryRun"/> nothing is copied and nothing fails but a file that maps
    /// nothing: the misfits and the missing tensors are in the report, for a map to be put right.
    /// </summary>
    public static ImportReport Import(torch.nn.Module model, IReadOnlyList<SourceTensor> source, WeightMap map, string? only = null, bool apply = true,
        bool allowMissing = false, bool dryRun = false)
    {
        if (dryRun) apply = false;
        var targets = model.state_dict();
        var loaded = new List<(string, string)>();
        var unused = new List<(string, string)>();
        var mismatched = new List<string>();
        var assigned = new Dictionary<string, (SourceTensor Tensor, bool Transpose)>(StringComparer.Ordinal);
        var misfitTargets = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in source)
        {
            var m = map.Map(t.Name);
            if (m.Target is null)
            {
                unused.Add((t.Name, m.Skipped ?? "no rule of the mapping matches it"));
                continue;
            }
            if (only is not null && !m.Target.StartsWith(only, StringComparison.Ordinal))
            {
                unused.Add((t.Name, $"maps to {m.Target}, outside {only.TrimEnd('.')}"));
                continue;
            }
            if (!targets.TryGetValue(m.Target, out var target))
            {
                unused.Add((t.Name, $"maps to {m.Target}, which this model does not have"));
                continue;
            }
            if (m.Transpose && t.Shape.Length != 2)
            {
                mismatched.Add($"{t.Name} {t.ShapeText} → {m.Target}: only a 2-D weight can be transposed");
                continue;
            }
            if (m.Flatten && !(t.Shape.Length == 4 && t.Shape[2] == 1 && t.Shape[3] == 1))
            {
                mismatched.Add($"{t.Name} {t.ShapeText} → {m.Target}: only a 1×1 conv weight [out, in, 1, 1] becomes a fully connected one");
                continue;
            }
            var shape = m.Transpose ? new[] { t.Shape[1], t.Shape[0] } : m.Flatten ? t.Shape[..2] : t.Shape;
            if (!shape.SequenceEqual(target.shape))
            {
                misfitTargets[m.Target] = t.Name;
                mismatched.Add($"{t.Name} {t.ShapeText}{(m.Transpose ? " (transposed)" : "")} → {m.Target} [{string.Join(", ", target.shape)}]");
                continue;
            }
            if (assigned.TryGetValue(m.Target, out var first))
                throw new InvalidDataException($"{first.Tensor.Name} and {t.Name} both map to {m.Target}; fix the mapping");
            var value = m.Scale == 1f && m.Shift == 0f ? t : t with { Values = t.Values.Select(v => v * m.Scale + m.Shift).ToArray() };
            assigned[m.Target] = (m.Flatten ? value with { Shape = shape } : value, m.Transpose);
            loaded.Add((t.Name, m.Target));
        }
        if (mismatched.Count > 0 && !dryRun)
            throw new InvalidDataException($"{mismatched.Count} tensor(s) do not fit the model: {string.Join("; ", mismatched.Take(3))}{(mismatched.Count > 3 ? $"; {mismatched.Count - 3} more" : "")} " +
                                           "(is the model, its width and class count the source's? taking only the backbone leaves the head alone)");
        if (loaded.Count == 0)
            throw new InvalidDataException($"no tensor of the file maps onto the model with {map.Name} (the file's first names: {string.Join(", ", source.Take(3).Select(s => s.Name))}); " +
                                           "check --model, or give a mapping file with --map");
        var left = targets.Keys.Where(k => !assigned.ContainsKey(k))
            .Select(k => (k, only is not null && !k.StartsWith(only, StringComparison.Ordinal) ? $"outside {only.TrimEnd('.')}"
                : misfitTargets.TryGetValue(k, out var misfit) ? $"{misfit} does not fit it" : ImportReport.NoSource)).ToList();
        var missing = left.Where(l => l.Item2 == ImportReport.NoSource).Select(l => l.k).ToList();
        if (missing.Count > 0 && !allowMissing && !dryRun)
            throw new InvalidDataException($"{missing.Count} of the model's {(only is null ? "" : only.TrimEnd('.') + " ")}tensors get no value from the file ({loaded.Count} do): " +
                                           $"{string.Join(", ", missing.Take(3))}{(missing.Count > 3 ? ", …" : "")}; is the file of this architecture?");
        if (apply)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            foreach (var (name, (t, transpose)) in assigned)
            {
                var target = targets[name];
                var value = torch.tensor(t.Values, t.Shape);
                if (transpose) value = value.t();
                target.copy_(value.to(target.dtype));
            }
        }
        return new ImportReport(map.Name, loaded, assigned.Values.Sum(a => a.Tensor.Count), left, unused) { Misfits = mismatched };
    }
}
