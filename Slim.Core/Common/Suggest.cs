namespace Slim.Common;

/// <summary>Nearest-name suggestions for error messages ("did you mean …?").</summary>
public static class Suggest
{
    /// <summary>Levenshtein edit distance (insertions, deletions, substitutions), case-insensitive.</summary>
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
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    /// <summary>The candidates nearest to name (at most max), closest first; empty when none is close.</summary>
    public static IReadOnlyList<string> Nearest(string name, IEnumerable<string> candidates, int max = 3)
    {
        var scored = candidates.Distinct()
            .Select(c => (c, d: Distance(name, c)))
            .Where(x => x.d <= Math.Max(2, Math.Max(name.Length, x.c.Length) / 2) || x.c.Contains(name, StringComparison.OrdinalIgnoreCase))
            .OrderBy(x => x.d).ThenBy(x => x.c, StringComparer.Ordinal)
            .Take(max)
            .Select(x => x.c)
            .ToList();
        return scored;
    }

    /// <summary>" (did you mean 'x'?)" or "" when nothing is close.</summary>
    public static string DidYouMean(string name, IEnumerable<string> candidates)
    {
        var n = Nearest(name, candidates, 1);
        return n.Count == 0 ? "" : $" (did you mean '{n[0]}'?)";
    }

    /// <summary>The count candidates nearest to name whatever their distance, closest first (ties in the given order).</summary>
    public static IReadOnlyList<string> Ranked(string name, IEnumerable<string> candidates, int count = 3) =>
        candidates.Distinct().Select((c, i) => (c, i, d: Distance(name, c)))
            .OrderBy(x => x.d).ThenBy(x => x.i).Take(count).Select(x => x.c).ToList();

    /// <summary>"; nearest: 'a', 'b', 'c'" (or "" when there are no candidates), for appending to a message.</summary>
    public static string NearestClause(string name, IEnumerable<string> candidates, int count = 3)
    {
        var n = Ranked(name, candidates, count);
        return n.Count == 0 ? "" : "; nearest: " + string.Join(", ", n.Select(x => $"'{x}'"));
    }
}
