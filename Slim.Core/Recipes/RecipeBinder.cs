using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using Slim.Common;
using YamlDotNet.RepresentationModel;

namespace Slim.Recipes;

/// <summary>
/// Maps a YAML node tree onto typed recipe records. Every error names the file, line and
/// key path, and for an unknown key suggests the nearest valid one. Records are classes with
/// settable properties whose initializers are the defaults (the one place defaults live).
/// </summary>
public sealed class RecipeBinder
{
    private readonly Func<YamlNode, (string file, int line)> _locate;

    public RecipeBinder(Func<YamlNode, (string file, int line)> locate) => _locate = locate;

    /// <summary>The YAML key of a property: [Key] or the snake_case of its name.</summary>
    public static string KeyOf(PropertyInfo p) => p.GetCustomAttribute<KeyAttribute>()?.Name ?? SnakeCase(p.Name);

    public static string SnakeCase(string name)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c))
            {
                bool boundary = i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]) ||
                                          (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1])));
                if (boundary) sb.Append('_');
                sb.Append(char.ToLowerInvariant(c));
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>The recipe name of an enum member: [Key] or its snake_case.</summary>
    public static string EnumName(Type t, object value)
    {
        var f = t.GetField(value.ToString()!)!;
        return f.GetCustomAttribute<KeyAttribute>()?.Name ?? SnakeCase(f.Name);
    }

    public static IEnumerable<PropertyInfo> Fields(Type t) =>
        t.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite && p.GetCustomAttribute<NotInRecipeAttribute>() is null);

    public T Bind<T>(YamlNode node, string path) where T : new() => (T)Bind(typeof(T), node, path)!;

    public object? Bind(Type type, YamlNode node, string path)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        if (IsNull(node)) return underlying is not null || !type.IsValueType ? null : Activator.CreateInstance(type);
        if (underlying is not null) type = underlying;

        if (type == typeof(string)) return Scalar(node, path, "a string");
        if (type == typeof(bool))
        {
            var s = Scalar(node, path, "true or false");
            return s.ToLowerInvariant() switch
            {
                "true" or "yes" or "on" => true,
                "false" or "no" or "off" => false,
                _ => throw Error(node, path, $"expected true or false, got '{s}'"),
            };
        }
        if (type == typeof(int) || type == typeof(long))
        {
            var s = Scalar(node, path, "a whole number");
            if (!long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ||
                (type == typeof(int) && (v < int.MinValue || v > int.MaxValue)))
                throw Error(node, path, $"expected a whole number, got '{s}'");
            return type == typeof(int) ? (object)(int)v : v;
        }
        if (type == typeof(double) || type == typeof(float))
        {
            var s = Scalar(node, path, "a number");
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || double.IsNaN(v))
                throw Error(node, path, $"expected a number, got '{s}'");
            return type == typeof(float) ? (object)(float)v : v;
        }
        if (type.IsEnum)
        {
            var s = Scalar(node, path, "a name");
            var names = Enum.GetValues(type).Cast<object>().ToDictionary(v => EnumName(type, v), v => v);
            if (names.TryGetValue(s, out var e)) return e;
            throw Error(node, path, $"unknown value '{s}': expected one of {string.Join(", ", names.Keys)}{Suggest.DidYouMean(s, names.Keys)}");
        }
        if (type.IsArray || (type.IsGenericType && type.GetGenericTypeDefinition() is var g &&
                             (g == typeof(List<>) || g == typeof(IReadOnlyList<>) || g == typeof(IList<>))))
        {
            var elem = type.IsArray ? type.GetElementType()! : type.GetGenericArguments()[0];
            // A single scalar where a list is expected is a list of one ("not_quant: se_block").
            var items = node switch
            {
                YamlSequenceNode seq => seq.Children.ToList(),
                YamlScalarNode => SplitScalarList(node),
                _ => null,
            };
            if (items is null) throw Error(node, path, "expected a list");
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(elem))!;
            for (int i = 0; i < items.Count; i++) list.Add(Bind(elem, items[i], $"{path}[{i}]"));
            if (type.IsArray)
            {
                var arr = Array.CreateInstance(elem, list.Count);
                list.CopyTo(arr, 0);
                return arr;
            }
            return list;
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            if (node is not YamlMappingNode map) throw Error(node, path, "expected a mapping of names to values");
            var vt = type.GetGenericArguments()[1];
            var dict = (IDictionary)Activator.CreateInstance(type)!;
            foreach (var (k, v) in map.Children)
            {
                var key = Scalar(k, path, "a name");
                dict[key] = Bind(vt, v, Join(path, key));
            }
            return dict;
        }
        return BindRecord(type, node, path);
    }

    private object BindRecord(Type type, YamlNode node, string path)
    {
        if (node is not YamlMappingNode map)
            throw Error(node, path, $"expected a mapping with keys {string.Join(", ", Fields(type).Select(KeyOf))}");
        var obj = Activator.CreateInstance(type)!;
        var props = Fields(type).ToDictionary(KeyOf, p => p);
        foreach (var (k, v) in map.Children)
        {
            var key = Scalar(k, path, "a key");
            var full = Join(path, key);
            if (!props.TryGetValue(key, out var p))
                throw Error(k, full, $"unknown key{Suggest.DidYouMean(key, props.Keys)}; valid keys here: {string.Join(", ", props.Keys)}");
            var value = p.GetCustomAttribute<FractionAttribute>() is not null && v is YamlScalarNode { Value: { } text } && text.TrimEnd().EndsWith('%')
                ? Units.ParseFraction(text) ?? throw Error(v, full, $"expected a fraction such as 0.02 or a percent such as 2%, got '{text}'")
                : Bind(p.PropertyType, v, full);
            var bounds = p.GetCustomAttribute<BoundsAttribute>();
            if (bounds is not null && value is IConvertible c && !bounds.Contains(c.ToDouble(CultureInfo.InvariantCulture)))
                throw Error(v, full, $"{c.ToString(CultureInfo.InvariantCulture)} is out of range: expected a value in {bounds.Describe()}");
            if (bounds is not null && value is IEnumerable e and not string)
                foreach (var item in e)
                    if (item is IConvertible ci && !bounds.Contains(ci.ToDouble(CultureInfo.InvariantCulture)))
                        throw Error(v, full, $"{ci.ToString(CultureInfo.InvariantCulture)} is out of range: expected values in {bounds.Describe()}");
            p.SetValue(obj, value);
        }
        if (obj is IValidatedRecipe validated)
        {
            var problem = validated.Validate();
            if (problem is not null)
            {
                // Blame the key the problem names (its line, in whichever file set it: a recipe that uses base:
                // merges its keys into the base's mapping, whose own line is the base file's).
                var named = map.Children.FirstOrDefault(kv => kv.Key is YamlScalarNode { Value: { } k } &&
                    System.Text.RegularExpressions.Regex.IsMatch(problem, $@"(^|[^\w]){System.Text.RegularExpressions.Regex.Escape(k)}([^\w]|$)"));
                if (named.Key is YamlScalarNode { Value: { } key }) throw Error(named.Value, Join(path, key), problem);
                throw Error(node, path, problem);
            }
        }
        return obj;
    }

    // "a, b" where a list is expected: a list of the parts, located at the original scalar.
    private List<YamlNode> SplitScalarList(YamlNode node)
    {
        var s = ((YamlScalarNode)node).Value ?? "";
        var parts = new List<YamlNode>();
        foreach (var x in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var part = new YamlScalarNode(x);
            _aliases[part] = node;
            parts.Add(part);
        }
        return parts;
    }

    private readonly Dictionary<YamlNode, YamlNode> _aliases = new(ReferenceEqualityComparer.Instance);

    private string Scalar(YamlNode node, string path, string expected)
    {
        if (node is YamlScalarNode s) return s.Value ?? "";
        throw Error(node, path, $"expected {expected}, got a {(node is YamlSequenceNode ? "list" : "mapping")}");
    }

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode s && s.Style == YamlDotNet.Core.ScalarStyle.Plain && (s.Value is null or "" or "~" or "null" or "Null" or "NULL");

    private static string Join(string path, string key) => path.Length == 0 ? key : path + "." + key;

    public RecipeException Error(YamlNode node, string path, string message)
    {
        var (file, line) = _locate(_aliases.TryGetValue(node, out var original) ? original : node);
        return new RecipeException(file, line, path, message);
    }
}

/// <summary>A recipe record with cross-field rules, checked right after binding.</summary>
public interface IValidatedRecipe
{
    /// <summary>A message describing what is wrong, or null.</summary>
    string? Validate();
}

/// <summary>Marks a property that is not read from the recipe.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class NotInRecipeAttribute : Attribute;
