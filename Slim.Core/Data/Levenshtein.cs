namespace Slim.Data;

/// <summary>Edit distance, for "did you mean" suggestions in error messages.</summary>
internal static class Levenshtein
{
    /// <summary>Insertions, deletions and substitutions needed to turn a into b (case-insensitive).</summary>
    public static int Distance(string a, string b)
    {
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    /// <summary>The candidate closest to <paramref name="name"/> (first one on ties).</summary>
    public static string Nearest(string name, IEnumerable<string> candidates) =>
        candidates.OrderBy(c => Distance(name, c)).First();
}
