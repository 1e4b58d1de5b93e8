using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Slim.Recipes;

/// <summary>
/// Reads a recipe: parses the YAML, merges it over its <c>base:</c> recipe (recursively;
/// mappings merge key by key, anything else is replaced), applies <c>-o key=value</c>
/// overrides, and binds the result to the recipe type with file/line errors.
/// </summary>
public static class RecipeLoader
{
    private const string BaseKey = "base";

    public static T Load<T>(string path, IReadOnlyList<string>? overrides = null) where T : new()
    {
        var origins = new Dictionary<YamlNode, (string file, int line)>(ReferenceEqualityComparer.Instance);
        var root = LoadTree(Path.GetFullPath(path), origins, new HashSet<string>(), DisplayName(path));
        foreach (var o in overrides ?? Array.Empty<string>()) ApplyOverride(root, o, origins);
        var binder = new RecipeBinder(n => Locate(n, origins, DisplayName(path)));
        return binder.Bind<T>(root, "");
    }

    /// <summary>Parses YAML text (no base, no overrides) — for tests and embedded recipes.</summary>
    public static T Parse<T>(string yaml, string fileName = "<recipe>") where T : new()
    {
        var origins = new Dictionary<YamlNode, (string file, int line)>(ReferenceEqualityComparer.Instance);
        var root = ParseText(yaml, fileName, origins);
        return new RecipeBinder(n => Locate(n, origins, fileName)).Bind<T>(root, "");
    }

    private static string DisplayName(string path)
    {
        var rel = Path.GetRelativePath(Environment.CurrentDirectory, Path.GetFullPath(path));
        return rel.StartsWith("..", StringComparison.Ordinal) ? Path.GetFullPath(path) : rel;
    }

    private static (string, int) Locate(YamlNode n, Dictionary<YamlNode, (string file, int line)> origins, string fallback) =>
        origins.TryGetValue(n, out var o) ? o : (fallback, (int)n.Start.Line);

    private static YamlMappingNode LoadTree(string fullPath, Dictionary<YamlNode, (string, int)> origins, HashSet<string> seen, string display)
    {
        if (!File.Exists(fullPath)) throw new RecipeException(display, 0, "", "recipe file not found");
        if (!seen.Add(fullPath)) throw new RecipeException(display, 0, BaseKey, "recipes include each other in a cycle");
        var map = ParseText(File.ReadAllText(fullPath), display, origins);
        var baseKey = new YamlScalarNode(BaseKey);
        if (!map.Children.TryGetValue(baseKey, out var baseNode)) return map;
        map.Children.Remove(baseKey);
        if (baseNode is not YamlScalarNode { Value: { Length: > 0 } basePath })
            throw new RecipeException(display, (int)baseNode.Start.Line, BaseKey, "expected the path of a base recipe");
        var baseFull = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(fullPath)!, basePath));
        if (!File.Exists(baseFull))
            throw new RecipeException(display, (int)baseNode.Start.Line, BaseKey, $"base recipe '{basePath}' not found (looked for {baseFull})");
        var baseMap = LoadTree(baseFull, origins, seen, DisplayName(baseFull));
        Merge(baseMap, map);
        return baseMap;
    }

    private static YamlMappingNode ParseText(string text, string display, Dictionary<YamlNode, (string, int)> origins)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new RecipeException(display, (int)e.Start.Line, "", $"invalid YAML: {e.InnerException?.Message ?? e.Message}");
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode map)
            throw new RecipeException(display, 1, "", "a recipe must be a YAML mapping (key: value lines)");
        foreach (var n in map.AllNodes) origins.TryAdd(n, (display, (int)n.Start.Line));
        return map;
    }

    /// <summary>Overlays src onto dst: mappings merge recursively, other values replace.</summary>
    private static void Merge(YamlMappingNode dst, YamlMappingNode src)
    {
        foreach (var (k, v) in src.Children)
        {
            if (dst.Children.TryGetValue(k, out var existing) && existing is YamlMappingNode dm && v is YamlMappingNode sm)
                Merge(dm, sm);
            else
                dst.Children[k] = v;
        }
    }

    private static void ApplyOverride(YamlMappingNode root, string text, Dictionary<YamlNode, (string, int)> origins)
    {
        var origin = $"-o {text}";
        int eq = text.IndexOf('=');
        if (eq <= 0) throw new RecipeException(origin, 0, "", "expected -o key=value (e.g. -o train.batch_size=4)");
        var keys = text[..eq].Trim().Split('.');
        var valueText = text[(eq + 1)..];
        YamlNode value;
        try
        {
            var s = new YamlStream();
            s.Load(new StringReader("v: " + valueText));
            value = ((YamlMappingNode)s.Documents[0].RootNode).Children[new YamlScalarNode("v")];
        }
        catch (YamlException e)
        {
            throw new RecipeException(origin, 0, text[..eq], $"invalid value: {e.Message}");
        }
        foreach (var n in value.AllNodes) origins[n] = (origin, 0);
        YamlNode cur = root;
        for (int i = 0; i < keys.Length; i++)
        {
            bool last = i == keys.Length - 1;
            if (cur is YamlSequenceNode seq)
            {
                // A list is indexed by position: -o stages.0.prune.fine_tune.iterations=300
                if (!int.TryParse(keys[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index)
                    || index >= seq.Children.Count)
                {
                    string parent = string.Join('.', keys[..i]);
                    throw new RecipeException(origin, 0, string.Join('.', keys[..(i + 1)]), seq.Children.Count == 0
                        ? $"'{parent}' is an empty list: give the whole list instead, e.g. -o {parent}=[...]"
                        : $"'{parent}' is a list of {seq.Children.Count} item(s): index it by position, 0 to {seq.Children.Count - 1} (e.g. {parent}.0.…), or give the whole list");
                }
                if (last) seq.Children[index] = value;
                else if (seq.Children[index] is YamlMappingNode or YamlSequenceNode) cur = seq.Children[index];
                else cur = seq.Children[index] = NewMapping(origin, origins);
                continue;
            }
            var map = (YamlMappingNode)cur;
            var k = new YamlScalarNode(keys[i]);
            if (!last && map.Children.TryGetValue(k, out var next) && next is YamlMappingNode or YamlSequenceNode)
            {
                cur = next;
                continue;
            }
            // A key the override adds or replaces is blamed on the -o option.
            origins[k] = (origin, 0);
            if (last) map.Children[k] = value;
            else cur = map.Children[k] = NewMapping(origin, origins);
        }
    }

    private static YamlMappingNode NewMapping(string origin, Dictionary<YamlNode, (string, int)> origins)
    {
        var m = new YamlMappingNode();
        origins[m] = (origin, 0);
        return m;
    }
}
