using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// Checks that a checkpoint was written for the model at hand (same state-dict keys and
/// shapes) before the quant stage loads it, so a checkpoint of another architecture fails
/// with the first differences named instead of a shape error deep inside a forward.
/// </summary>
public static class ArchitectureCheck
{
    /// <summary>How many differences of each kind a message names.</summary>
    public const int Shown = 5;

    /// <summary>The differences between model's state dict and state (empty when they match).</summary>
    public static IReadOnlyList<string> Differences(nn.Module model, IReadOnlyDictionary<string, Tensor> state)
    {
        var own = model.state_dict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var shapes = new List<string>();
        foreach (var (key, t) in own)
            if (state.TryGetValue(key, out var s) && !s.shape.SequenceEqual(t.shape))
                shapes.Add($"{key}: checkpoint [{string.Join(", ", s.shape)}], model [{string.Join(", ", t.shape)}]");
        var d = new List<string>();
        if (shapes.Count > 0) d.Add($"{shapes.Count} shape mismatch(es): {Head(shapes)}");
        if (missing.Count > 0) d.Add($"{missing.Count} key(s) missing from the checkpoint: {Head(missing)}");
        if (unexpected.Count > 0) d.Add($"{unexpected.Count} key(s) the model does not have: {Head(unexpected)}");
        return d;
    }

    /// <summary>Throws a <see cref="QuantizationException"/> naming source and the first mismatches when state does not fit model.</summary>
    public static void Verify(nn.Module model, IReadOnlyDictionary<string, Tensor> state, string source)
    {
        var d = Differences(model, state);
        if (d.Count > 0)
            throw new QuantizationException($"{source}: the checkpoint does not match the model's architecture ({string.Join("; ", d)}): " +
                "give the checkpoint of the model the recipe builds (same architecture, width and pruned channels)");
    }

    /// <summary>
    /// Loads the checkpoint at path (a trainer checkpoint, whose model keys start with "model.",
    /// or a plain state dict), verifies it against model and loads it.
    /// </summary>
    public static Dictionary<string, string> VerifyAndLoad(nn.Module model, string path)
    {
        var (tensors, meta) = Checkpoint.Load(path);
        try
        {
            bool prefixed = tensors.Keys.Any(k => k.StartsWith("model.", StringComparison.Ordinal));
            var state = tensors.Where(kv => !prefixed || kv.Key.StartsWith("model.", StringComparison.Ordinal))
                .ToDictionary(kv => prefixed ? kv.Key["model.".Length..] : kv.Key, kv => kv.Value);
            Verify(model, state, path);
            model.load_state_dict(state);
            return meta;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private static string Head(List<string> items) =>
        string.Join(", ", items.Take(Shown)) + (items.Count > Shown ? $" … ({items.Count - Shown} more)" : "");
}
