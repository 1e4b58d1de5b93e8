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
    /// <summary>
    /// Builds the model through its family (loading the checkpoint's weights when one is given) and its options.
    /// --input-size changes only the size the figures are computed at; the weights do not depend on it.
    /// </summary>
    public (torch.nn.Module model, string architecture, ModelOptions options) Build()
    {
        if (Checkpoint is not null)
        {
            var loaded = ModelCheckpoint.Load(Checkpoint);
            return (loaded.Model, loaded.Architecture, InputSizeGiven ? loaded.Options with { InputSize = InputSize } : loaded.Options);
        }
        if (Model is null) throw new UsageException("name a model with --model NAME (or --checkpoint FILE)");
        // RGB: the published models' first layer; a Fashion-MNIST checkpoint records its one channel itself.
        var opts = new ModelOptions { NumClasses = NumClasses, Width = Width, InputSize = InputSize, InChannels = 3 };
        return (TaskRegistry.ForArchitecture(Model).CreateModel(Model, opts), Model, opts);
    }
}
