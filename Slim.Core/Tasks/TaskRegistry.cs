using Slim.Models;
using Slim.Recipes;
using Slim.Tasks.Classification;
using Slim.Tasks.Detection;
using Slim.Tasks.Segmentation;
using Slim.Tasks.Ssd;

namespace Slim.Tasks;

/// <summary>
/// Maps a model name to its family, so a recipe names a model and never a task. The built-in
/// families are registered here; <see cref="Register"/> adds one (tests, extensions).
/// </summary>
public static class TaskRegistry
{
    private static readonly object Gate = new();
    private static readonly List<TaskFamily> Families = new() { DetectionFamily.Instance, ClassificationFamily.Instance, SegmentationFamily.Instance, SsdFamily.Instance };

    /// <summary>The registered families.</summary>
    public static IReadOnlyList<TaskFamily> All
    {
        get { lock (Gate) return Families.ToArray(); }
    }

    /// <summary>Every architecture name of every family.</summary>
    public static IReadOnlyList<string> Architectures => All.SelectMany(f => f.Architectures).ToArray();

    /// <summary>Adds a family; its architecture names must be new.</summary>
    public static void Register(TaskFamily family)
    {
        ArgumentNullException.ThrowIfNull(family);
        lock (Gate)
        {
            if (Families.Contains(family)) return;
            var taken = family.Architectures.Where(a => Families.Any(f => f.Architectures.Contains(a))).ToList();
            if (taken.Count > 0) throw new ArgumentException($"task family '{family.Name}': architecture(s) {string.Join(", ", taken)} are registered already");
            Families.Add(family);
        }
    }

    /// <summary>The family owning an architecture; an unknown name fails with the valid names and the nearest.</summary>
    public static TaskFamily ForArchitecture(string architecture)
    {
        foreach (var f in All)
            if (f.Architectures.Contains(architecture)) return f;
        var names = Architectures;
        var near = Slim.Common.Suggest.Nearest(architecture, names, 1).FirstOrDefault();
        throw new ModelException($"unknown model '{architecture}'{(near is null ? "" : $" (did you mean '{near}'?)")}; valid models: {string.Join(", ", names)}");
    }

    /// <summary>The family of a recipe's model.</summary>
    public static TaskFamily For(Recipe recipe) => ForArchitecture(recipe.Model.Name);

    /// <summary>Checks the recipe against its family (<see cref="TaskFamily.CheckRecipe"/>), then loads its data as the family's task.</summary>
    public static ITask CreateTask(Recipe recipe, Action<string>? log = null, int? valLimit = null)
    {
        var family = For(recipe);
        if (family.CheckRecipe(recipe) is { } problem) throw new SlimException(problem);
        return family.CreateTask(recipe, log, valLimit);
    }

    /// <summary>Removes a family added with <see cref="Register"/> (tests that register one clean up after themselves).</summary>
    internal static void Unregister(TaskFamily family)
    {
        lock (Gate)
        {
            if (family is DetectionFamily or ClassificationFamily or SegmentationFamily or SsdFamily) throw new ArgumentException("the built-in families stay registered");
            Families.Remove(family);
        }
    }
}
