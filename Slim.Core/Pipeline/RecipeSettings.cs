using System.Text.Json;
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
}
