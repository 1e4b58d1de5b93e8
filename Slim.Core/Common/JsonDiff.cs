using System.Text.Json.Nodes;

namespace Slim;

/// <summary>The values that differ between two JSON documents, as "a.b[0].c: old → new" lines in key order.</summary>
public static class JsonDiff
{
    public static IReadOnlyList<string> Changes(string before, string after)
    {
        var a = Flatten(JsonNode.Parse(before));
        var b = Flatten(JsonNode.Parse(after));
        return a.Keys.Union(b.Keys).Order(StringComparer.Ordinal)
            .Where(k => a.GetValueOrDefault(k) != b.GetValueOrDefault(k))
            .Select(k => $"{k}: {a.GetValueOrDefault(k) ?? "(none)"} → {b.GetValueOrDefault(k) ?? "(none)"}")
            .ToList();
    }

    private static Dictionary<string, string> Flatten(JsonNode? root)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        void Walk(JsonNode? n, string path)
        {
            switch (n)
            {
                case JsonObject o:
                    foreach (var (k, v) in o) Walk(v, path.Length == 0 ? k : $"{path}.{k}");
                    break;
                case JsonArray arr:
                    for (int i = 0; i < arr.Count; i++) Walk(arr[i], $"{path}[{i}]");
                    if (arr.Count == 0) d[path] = "[]";
                    break;
                case null:
                    break;
                default:
                    d[path] = n.ToJsonString();
                    break;
            }
        }
        Walk(root, "");
        return d;
    }
}
