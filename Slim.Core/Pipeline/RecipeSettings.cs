using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Slim.Recipes;

namespace Slim.Pipeline;

/// <summary>
/// The settings a run was made with: the recipe after its base and overrides, as canonical JSON in the run folder
/// (<see cref="FileName"/>), so that a resume can tell what changed since. Thread counts are not settings of the
/// result and are left out.
/// </summary>
public static class RecipeSettings
{
    public const string FileName = "recipe.effective.json";

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static string Of(Recipe recipe)
    {
        var node = JsonSerializer.SerializeToNode(recipe, Options)!.AsObject();
        node.Remove("threads");
        return node.ToJsonString(Options) + "\n";
    }

    /// <summary>"train.lr: 0.001 → 0.002" for every value that differs, in key order.</summary>
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
