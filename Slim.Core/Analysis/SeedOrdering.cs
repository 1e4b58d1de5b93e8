namespace Slim.Analysis;

/// <summary>
/// Whether one strategy beats another across seeds: "A > B holds" when A scores above B in every seed (paired by
/// seed: the same seed gives both the same initial weights and data order) and the mean margin exceeds the spread
/// between seeds (the larger of the two rows' max − min), so a difference the seeds alone could make does not count.
/// </summary>
/// <param name="MeanA">Mean score of A over the seeds.</param>
/// <param name="MeanB">Mean score of B.</param>
/// <param name="Margin">MeanA − MeanB.</param>
/// <param name="Spread">The larger of A's and B's max − min over the seeds.</param>
/// <param name="SeedsAhead">Seeds in which A scored above B.</param>
/// <param name="Seeds">Seeds compared.</param>
public sealed record SeedOrdering(double MeanA, double MeanB, double Margin, double Spread, int SeedsAhead, int Seeds)
{
    /// <summary>A is ahead in every seed by a mean margin larger than the seeds' spread.</summary>
    public bool Holds => Seeds > 0 && SeedsAhead == Seeds && Margin > Spread;

    /// <summary>A's mean is not below B's ("A loses no more than B"), whatever the spread.</summary>
    public bool NotBelow => Margin >= 0;

    /// <summary>Compares A with B, both listed in the same seed order.</summary>
    public static SeedOrdering Compare(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count || a.Count == 0)
            throw new ArgumentException($"seed ordering: A has {a.Count} seed(s) and B {b.Count}; give both the same seeds, at least one");
        int ahead = 0;
        for (int i = 0; i < a.Count; i++)
            if (a[i] > b[i]) ahead++;
        double meanA = a.Average(), meanB = b.Average();
        double spread = Math.Max(a.Max() - a.Min(), b.Max() - b.Min());
        return new SeedOrdering(meanA, meanB, meanA - meanB, spread, ahead, a.Count);
    }
}
