namespace Slim.Data;

/// <summary>
/// Derives independent seeds from (seed, a, b, ...) so that every random decision of the data
/// pipeline depends only on its coordinates (seed, epoch, image or batch index), never on which
/// thread got there first.
/// </summary>
internal static class SeedMixer
{
    /// <summary>SplitMix64's finalizer over the values in order, folded to a non-negative int seed.</summary>
    public static int Mix(params long[] values)
    {
        ulong h = 0x9E3779B97F4A7C15UL;
        foreach (var v in values)
        {
            h ^= (ulong)v;
            h += 0x9E3779B97F4A7C15UL;
            h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
            h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
            h ^= h >> 31;
        }
        return (int)(h & 0x7FFFFFFF);
    }

    /// <summary>A System.Random seeded from the mixed values (its seeded sequence is stable across runs).</summary>
    public static Random Rng(params long[] values) => new(Mix(values));
}
