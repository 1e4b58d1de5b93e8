using System.Globalization;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Data;

/// <summary>
/// Re-expresses a batch normalized with one set of per-channel statistics in another's:
/// x' = (x·σ₁ + μ₁ − μ₂) / σ₂, that is x' = x·(σ₁/σ₂) + (μ₁ − μ₂)/σ₂ per channel, so that a model trained on inputs
/// normalized by (μ₂, σ₂) sees the same pixels it would have been given (a teacher trained from other weights than
/// its student, for instance).
/// </summary>
public sealed class InputRenormalization
{
    private readonly float[] _scale;
    private readonly float[] _shift;

    private InputRenormalization(IReadOnlyList<float> fromMean, IReadOnlyList<float> fromStd, IReadOnlyList<float> toMean, IReadOnlyList<float> toStd)
    {
        (FromMean, FromStd, ToMean, ToStd) = (fromMean.ToArray(), fromStd.ToArray(), toMean.ToArray(), toStd.ToArray());
        _scale = FromStd.Select((s, c) => s / ToStd[c]).ToArray();
        _shift = FromMean.Select((m, c) => (m - ToMean[c]) / ToStd[c]).ToArray();
    }

    /// <summary>The statistics the batches come normalized with.</summary>
    public IReadOnlyList<float> FromMean { get; }

    /// <summary>The standard deviations the batches come normalized with.</summary>
    public IReadOnlyList<float> FromStd { get; }

    /// <summary>The statistics the batches are re-expressed in.</summary>
    public IReadOnlyList<float> ToMean { get; }

    /// <summary>The standard deviations the batches are re-expressed in.</summary>
    public IReadOnlyList<float> ToStd { get; }

    /// <summary>The map from (<paramref name="fromMean"/>, <paramref name="fromStd"/>) to (<paramref name="toMean"/>, <paramref name="toStd"/>); null when they are the same.</summary>
    public static InputRenormalization? Between(IReadOnlyList<float> fromMean, IReadOnlyList<float> fromStd, IReadOnlyList<float> toMean, IReadOnlyList<float> toStd)
    {
        int channels = fromMean.Count;
        if (fromStd.Count != channels || toMean.Count != channels || toStd.Count != channels)
            throw new ArgumentException($"normalizations of different channel counts: mean/std {fromMean.Count}/{fromStd.Count} and {toMean.Count}/{toStd.Count}");
        if (fromStd.Concat(toStd).Any(s => !(s > 0)))
            throw new ArgumentException("a normalization standard deviation is not positive");
        return fromMean.SequenceEqual(toMean) && fromStd.SequenceEqual(toStd) ? null : new InputRenormalization(fromMean, fromStd, toMean, toStd);
    }

    /// <summary>The batch <paramref name="x"/> ([N, C, H, W], normalized by the From statistics) normalized by the To statistics instead (a new tensor).</summary>
    public Tensor Apply(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != _scale.Length)
            throw new ArgumentException($"expected a batch [N, {_scale.Length}, H, W], got [{string.Join(", ", x.shape)}]", nameof(x));
        using var scale = tensor(_scale, 1, _scale.Length, 1, 1);
        using var shift = tensor(_shift, 1, _shift.Length, 1, 1);
        using var s = scale.to(x.device, x.dtype);
        using var b = shift.to(x.device, x.dtype);
        using var scaled = x * s;
        return scaled + b;
    }

    /// <summary>Normalization values as an array, checked to hold one value per input channel.</summary>
    public static float[] PerChannel(IReadOnlyList<float> values, int channels) => values.Count == channels ? values.ToArray()
        : throw new ArgumentException($"normalization has {values.Count} values for {channels} input channels", nameof(values));

    /// <summary>"mean 0.286, 0.286, 0.286, std 0.353, … → mean 0.485, …, std …" for messages.</summary>
    public override string ToString()
    {
        static string V(IReadOnlyList<float> v) => string.Join(", ", v.Select(x => x.ToString("0.###", CultureInfo.InvariantCulture)));
        return $"mean {V(FromMean)}, std {V(FromStd)} → mean {V(ToMean)}, std {V(ToStd)}";
    }
}
