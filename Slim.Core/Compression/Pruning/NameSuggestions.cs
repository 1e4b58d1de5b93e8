namespace Slim.Compression.Pruning;

/// <summary>Nearest-name suggestions (Levenshtein distance) for error messages.</summary>
public static class NameSuggestions
{
    /// <summary>Edit distance (insertions, deletions, substitutions) between two strings.</summary>
    public static int Levenshtein(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                cur[j] = Math.Min(sub, Math.Min(prev[j] + 1, cur[j - 1] + 1));
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    /// <summary>The candidates nearest to name, closest first (ties in the given order).</summary>
    public static IReadOnlyList<string> NearestNames(string name, IEnumerable<string> candidates, int count = 3) =>
        candidates.Distinct().Select((c, i) => (c, i, d: Levenshtein(name, c)))
            .OrderBy(x => x.d).ThenBy(x => x.i).Take(count).Select(x => x.c).ToList();

    /// <summary>"; nearest: 'a', 'b', 'c'" (or "" when there are no candidates), for appending to a message.</summary>
    public static string Nearest(string name, IEnumerable<string> candidates, int count = 3)
    {
        var n = NearestNames(name, candidates, count);
        return n.Count == 0 ? "" : "; nearest: " + string.Join(", ", n.Select(x => $"'{x}'"));
    }
}
