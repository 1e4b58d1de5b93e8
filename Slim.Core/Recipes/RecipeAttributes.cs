namespace Slim.Recipes;

/// <summary>The YAML key of a recipe field, when it is not the snake_case of the property name.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class KeyAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>What a recipe field means (printed in the recipe reference).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class DocAttribute(string text) : Attribute
{
    public string Text { get; } = text;
}

/// <summary>A number that is a fraction and may also be written as a percent: 0.02 or 2%.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class FractionAttribute : Attribute;

/// <summary>Inclusive bounds of a numeric recipe field (MaxExclusive makes the upper bound open).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class BoundsAttribute(double min, double max) : Attribute
{
    public double Min { get; } = min;
    public double Max { get; } = max;
    public bool MaxExclusive { get; init; }

    public bool Contains(double v) => v >= Min && (MaxExclusive ? v < Max : v <= Max);

    public string Describe() => $"[{Fmt(Min)}, {Fmt(Max)}{(MaxExclusive ? ")" : "]")}";

    private static string Fmt(double v) => v switch
    {
        double.MaxValue or >= 1e300 => "∞",
        _ => v.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
