using Slim.Compression.Distillation;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Tasks;

/// <summary>
/// The part of a model family that needs no data: which architectures it owns and how to build
/// them, how to run one on images, what export writes, and the defaults of pruning and
/// distillation. <see cref="CreateTask"/> binds it to a recipe's data as an <see cref="ITask"/>.
/// A new family is a subclass plus one <see cref="TaskRegistry.Register"/> line.
/// </summary>
public abstract class TaskFamily
{
    /// <summary>Short name ("detection", "classification"), shown in messages.</summary>
    public abstract string Name { get; }

    /// <summary>The architecture names a recipe's model.name may use for this family.</summary>
    public abstract IReadOnlyList<string> Architectures { get; }

    /// <summary>Builds an architecture with freshly initialised weights (channel overrides applied).</summary>
    public abstract torch.nn.Module CreateModel(string architecture, ModelOptions options);

    /// <summary>Loads the recipe's data and returns the task (may generate offline data first).</summary>
    public abstract ITask CreateTask(Recipe recipe, Action<string>? log = null, int? valLimit = null);

    /// <summary>Runs a model of this family on a batch of images and returns its output tensors.</summary>
    public abstract IReadOnlyList<Tensor> Forward(torch.nn.Module model, Tensor images);

    /// <summary>What the exported graph computes from a batch of images (the forward, plus in-graph post-processing a family writes this way).</summary>
    public virtual IReadOnlyList<Tensor> ExportForward(torch.nn.Module model, Tensor images, ExportSection section) => Forward(model, images);

    /// <summary>What the exported graph returns, in words for the export line ("raw outputs", "per-pixel class ids").</summary>
    public virtual string ExportForm(ExportSection section) => "raw outputs";

    /// <summary>The parameters (names or globs) pruned when a recipe names none.</summary>
    public abstract IReadOnlyList<string> DefaultPrunedParameters { get; }

    /// <summary>The pruned_ratios used when a recipe gives none (a preset, a list or "flops:X").</summary>
    public abstract string DefaultPrunedRatios { get; }

    /// <summary>Module path parts of the output layers, kept in float unless quant.quant_output (none by default).</summary>
    public virtual IReadOnlyList<string> OutputLayers => Array.Empty<string>();

    /// <summary>The normalization the family's loaders apply to an input of this many channels (export metadata when a checkpoint records none).</summary>
    public abstract (IReadOnlyList<float> Mean, IReadOnlyList<float> Std) DefaultNormalization(int channels);

    /// <summary>The distillation options of a recipe's distill section (default pairs and loss of the family filled in), checked.</summary>
    public abstract DistillationOptions Distillation(DistillSection section, ModelOptions student);

    /// <summary>
    /// The FP32 exporter options (input and output names, normalization, metadata, optional in-graph
    /// post-processing); the export stage adds the INT8 layers itself.
    /// </summary>
    public abstract OnnxExportOptions ExportOptions(string architecture, ModelOptions options, ExportModelInfo info, ExportSection section);

    /// <summary>Recipe-level checks that need no data (input size rules, metrics, export options the family lacks); null when fine. <see cref="TaskRegistry.CreateTask"/> runs them.</summary>
    public virtual string? CheckRecipe(Recipe recipe) => null;

    /// <summary>A short description of the model for reports ("yolov3_mobilenet_v1 ×0.25, 160 px").</summary>
    public virtual string Describe(ModelSection model) =>
        $"{model.Name} ×{model.Width.ToString(System.Globalization.CultureInfo.InvariantCulture)}, {model.InputSize} px";

    public override string ToString() => Name;
}
