using System.CommandLine;
using System.Reflection;
using System.Text;
using Slim.Recipes;

namespace Slim.Cli.Commands;

/// <summary>`slim recipe check|reference`: validate a recipe, or print every key it can hold.</summary>
public static class RecipeCommand
{
    public static Command Create()
    {
        var cmd = new Command("recipe", "Check a recipe, or print the recipe reference.");
        var file = new Argument<string>("recipe") { Description = "The recipe YAML file." };
        var overrides = CommonOptions.Overrides();
        var data = new Option<bool>("--data") { Description = "Also open the dataset as a run would (generating the offline data if needed) and print its summary." };
        var check = new Command("check", """
            Check a recipe (and its base) as slim run does before any work, without running it: keys, types and
            ranges; the model builds; every pruned-parameter pattern, ratio list, not_quant pattern, distillation
            pair and teacher checkpoint resolves on it. With --data the dataset is opened too.

            Examples:
              slim recipe check recipes/quickstart.yml -o train.iterations=10
              slim recipe check recipes/quickstart.yml --data
            """);
        check.Arguments.Add(file);
        check.Options.Add(overrides);
        check.Options.Add(data);
        check.SetAction(p => CliRunner.Run(() => Check(p.GetValue(file)!, p.GetValue(overrides) ?? Array.Empty<string>(), Console.Out, p.GetValue(data))));
        var reference = new Command("reference", "Print every recipe key with its type, default and meaning (Markdown).\n\nExample:\n  slim recipe reference > recipe-reference.md");
        reference.SetAction(_ => CliRunner.Run(() =>
        {
            Console.Out.Write(Reference());
            return ExitCode.Ok;
        }));
        cmd.Subcommands.Add(check);
        cmd.Subcommands.Add(reference);
        return cmd;
    }

    public static ExitCode Check(string path, IReadOnlyList<string> overrides, TextWriter output, bool data = false)
    {
        var r = RecipeLoader.Load<Recipe>(path, overrides);
        Slim.Pipeline.Runtime.Configure(r);
        string model = "";
        Slim.Pipeline.RecipeRunner.InRecipe(path, () => model = Slim.Pipeline.RecipeRunner.CheckWithoutData(r));
        IReadOnlyList<string> summary = [];
        if (data) summary = Slim.Pipeline.RecipeRunner.CheckWithData(r, output.WriteLine).DataSummary();
        var stages = r.Stages.Count == 0 ? "no stages" : $"{r.Stages.Count} stage(s): {string.Join(" → ", r.Stages.Select(s => s.Kind))}";
        output.WriteLine($"{path}: ok ({model}, {r.Dataset.Format.ToString().ToLowerInvariant()} data, {stages}; " +
                         $"every pattern and ratio list resolves on the model{(data ? "; the data opens" : "")})");
        foreach (var line in summary) output.WriteLine($"  {line}");
        return ExitCode.Ok;
    }

    /// <summary>The recipe reference, generated from the schema records so it cannot drift from the code.</summary>
    public static string Reference()
    {
        var sb = new StringBuilder();
        var done = new HashSet<Type>();
        void Section(Type t, string prefix)
        {
            if (!done.Add(t)) return;
            sb.AppendLine($"### `{(prefix.Length == 0 ? "(top level)" : prefix)}`").AppendLine();
            sb.AppendLine("| key | type | default | meaning |").AppendLine("|---|---|---|---|");
            var instance = Activator.CreateInstance(t);
            var nested = new List<(Type, string)>();
            foreach (var p in RecipeBinder.Fields(t))
            {
                var key = RecipeBinder.KeyOf(p);
                var (type, inner) = Describe(p.PropertyType);
                var doc = p.GetCustomAttribute<DocAttribute>()?.Text ?? "";
                var bounds = p.GetCustomAttribute<BoundsAttribute>();
                if (bounds is not null) doc += $" Range {bounds.Describe()}.";
                sb.AppendLine($"| `{key}` | {type} | {Default(p.GetValue(instance))} | {doc} |");
                if (inner is not null) nested.Add((inner, prefix.Length == 0 ? key : $"{prefix}.{key}"));
            }
            sb.AppendLine();
            foreach (var (nt, np) in nested) Section(nt, np);
        }
        Section(typeof(Recipe), "");
        return sb.ToString();
    }

    private static (string, Type?) Describe(Type t)
    {
        var u = Nullable.GetUnderlyingType(t) ?? t;
        if (u == typeof(string)) return ("string", null);
        if (u == typeof(int) || u == typeof(long)) return ("integer", null);
        if (u == typeof(double)) return ("number", null);
        if (u == typeof(bool)) return ("bool", null);
        if (u.IsEnum) return (string.Join(" \\| ", Enum.GetValues(u).Cast<object>().Select(v => RecipeBinder.EnumName(u, v))), null);
        if (u.IsGenericType && u.GetGenericTypeDefinition() == typeof(List<>))
        {
            var (et, inner) = Describe(u.GetGenericArguments()[0]);
            return ($"list of {et}", inner);
        }
        return ("mapping", u);
    }

    private static string Default(object? v) => v switch
    {
        null => "—",
        string s => s.Length == 0 ? "\"\"" : $"`{s}`",
        bool b => b ? "true" : "false",
        double d => d.ToString(System.Globalization.CultureInfo.InvariantCulture),
        Enum e => $"`{RecipeBinder.EnumName(e.GetType(), e)}`",
        System.Collections.IList l when l.Count == 0 => "[]",
        System.Collections.IList l when l.Count > 0 && l[0] is not null && !l[0]!.GetType().IsClass => "[" + string.Join(", ", l.Cast<object>().Select(x => Convert.ToString(x, System.Globalization.CultureInfo.InvariantCulture))) + "]",
        System.Collections.IList l when l[0] is string => "[" + string.Join(", ", l.Cast<string>()) + "]",
        IConvertible c => c.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => "(section)",
    };
}
