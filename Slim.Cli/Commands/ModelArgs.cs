using System.CommandLine;
using Slim.Models;
using Slim.Torch;

namespace Slim.Cli.Commands;

/// <summary>
/// The options that name a model without a recipe: an architecture and its options, or a
/// checkpoint whose metadata rebuilds it (pruned channel counts included).
/// </summary>
public sealed class ModelArgs
{
    public Option<string?> Model { get; } = new("--model") { Description = $"Architecture: {string.Join(", ", ModelRegistry.Names)}." };
    public Option<string?> Checkpoint { get; } = new("--checkpoint") { Description = "A Slim checkpoint; its metadata rebuilds the model (pruned channels included)." };
    public Option<int> NumClasses { get; } = new("--num-classes") { Description = "Number of classes.", DefaultValueFactory = _ => 80 };
    public Option<double> Width { get; } = new("--width") { Description = "Channel width multiplier.", DefaultValueFactory = _ => 1.0 };
    public Option<int> InputSize { get; } = new("--input-size") { Description = "Square input size in pixels.", DefaultValueFactory = _ => 608 };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Model);
        cmd.Options.Add(Checkpoint);
        cmd.Options.Add(NumClasses);
        cmd.Options.Add(Width);
        cmd.Options.Add(InputSize);
    }

    /// <summary>The parsed values.</summary>
    public ModelSpec Read(ParseResult p) => new(p.GetValue(Model), p.GetValue(Checkpoint), p.GetValue(NumClasses),
        p.GetValue(Width), p.GetValue(InputSize), p.GetResult(InputSize) is { Implicit: false });
}

/// <summary>A model named on the command line.</summary>
public sealed record ModelSpec(string? Model, string? Checkpoint, int NumClasses, double Width, int InputSize, bool InputSizeGiven)
{
    /// <summary>Builds the model (loading the checkpoint's weights when one is given) and its options.</summary>
    public (torch.nn.Module model, string architecture, ModelOptions options) Build()
    {
        if (Checkpoint is not null)
        {
            var meta = Slim.Torch.Checkpoint.ReadMetadata(Checkpoint);
            if (!meta.ContainsKey(ModelOptions.MetadataPrefix + "architecture"))
                throw new CheckpointException($"{Checkpoint}: the checkpoint does not record its model (no model.architecture metadata)");
            var (arch, options) = ModelOptions.FromMetadata(meta);
            if (InputSizeGiven) options = options with { InputSize = InputSize };
            var model = ModelRegistry.Create(arch, options);
            Slim.Training.Trainer.LoadModel(Checkpoint, model);
            return (model, arch, options);
        }
        if (Model is null) throw new UsageException("name a model with --model NAME (or --checkpoint FILE)");
        var opts = new ModelOptions { NumClasses = NumClasses, Width = Width, InputSize = InputSize, InChannels = ModelRegistry.TaskOf(Model) == ModelTask.Detection ? 3 : 3 };
        return (ModelRegistry.Create(Model, opts), Model, opts);
    }
}
