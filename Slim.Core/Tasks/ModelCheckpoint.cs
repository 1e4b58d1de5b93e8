using Slim.Recipes;
using Slim.Models;
using Slim.Torch;
using Slim.Training;

namespace Slim.Tasks;

/// <summary>A model rebuilt from a checkpoint: the module (eval mode, weights loaded), its architecture, options and family.</summary>
public sealed record LoadedModel(torch.nn.Module Model, string Architecture, ModelOptions Options, TaskFamily Family) : IDisposable
{
    /// <summary>The family's forward of this model on images.</summary>
    public IReadOnlyList<Tensor> Forward(Tensor images) => Family.Forward(Model, images);

    public void Dispose() => Model.Dispose();
}

/// <summary>Rebuilds any registered family's model from a checkpoint's metadata (pruned channel counts included).</summary>
public static class ModelCheckpoint
{
    /// <summary>
    /// Reads the architecture and options the checkpoint records, builds that model through its
    /// family and loads the weights. Fails with the file named when the checkpoint is missing, records
    /// no model, or its tensors do not fit.
    /// </summary>
    public static LoadedModel Load(string checkpoint)
    {
        if (!File.Exists(checkpoint)) throw new SlimException($"checkpoint '{checkpoint}' does not exist");
        var meta = Checkpoint.ReadMetadata(checkpoint);
        if (!meta.ContainsKey(ModelOptions.MetadataPrefix + "architecture"))
            throw new CheckpointException($"{checkpoint}: the checkpoint does not record its model (no model.architecture metadata)");
        var (arch, options) = ModelOptions.FromMetadata(meta);
        var family = TaskRegistry.ForArchitecture(arch);
        var model = family.CreateModel(arch, options);
        try
        {
            Trainer.LoadModel(checkpoint, model);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return new LoadedModel(model, arch, options, family);
    }

    /// <summary>
    /// Refuses a checkpoint of another architecture than the recipe's model (<see cref="RequireArchitecture"/>), then
    /// names it as the recipe's model.checkpoint. A verb given --checkpoint builds its task from the recipe after this,
    /// so the task feeds the model the input statistics the checkpoint was trained with (it records them).
    /// </summary>
    public static void UseAsModel(string checkpoint, Recipe recipe)
    {
        RequireArchitecture(checkpoint, recipe);
        recipe.Model.Checkpoint = checkpoint;
    }

    /// <summary>
    /// Refuses a checkpoint of another architecture than the recipe's model (a pruned one of the same architecture
    /// is fine), before any work: the recipe's settings (anchors, input size, pruning patterns) are for its model.
    /// </summary>
    public static void RequireArchitecture(string checkpoint, Recipe recipe)
    {
        if (!File.Exists(checkpoint)) throw new SlimException($"{checkpoint}: no such checkpoint; give a checkpoint of {recipe.Model.Name} (the recipe's model)");
        var meta = Checkpoint.ReadMetadata(checkpoint);
        if (!meta.TryGetValue(ModelOptions.MetadataPrefix + "architecture", out var arch))
            throw new CheckpointException($"{checkpoint}: the checkpoint does not record its model (no model.architecture metadata)");
        if (arch != recipe.Model.Name)
            throw new SlimException($"{checkpoint}: holds a {arch} model but the recipe's model.name is {recipe.Model.Name}; " +
                                    $"give a checkpoint of {recipe.Model.Name}, or use the checkpoint's model (-o model.name={arch})");
    }

    /// <summary>Like <see cref="Load(string)"/>, but the checkpoint must hold a model of <paramref name="family"/>.</summary>
    public static LoadedModel Load(string checkpoint, TaskFamily family)
    {
        var loaded = Load(checkpoint);
        if (loaded.Family != family)
        {
            loaded.Dispose();
            throw new SlimException($"{checkpoint}: holds a {loaded.Architecture} ({loaded.Family.Name}) model, but a {family.Name} model is needed here ({string.Join(", ", family.Architectures)}); give a checkpoint of such a model");
        }
        return loaded;
    }
}
