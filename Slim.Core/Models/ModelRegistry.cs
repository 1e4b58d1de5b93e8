using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>What a registered architecture produces.</summary>
public enum ModelTask
{
    /// <summary>A YOLOv3 detector (<see cref="YoloV3"/>, forward returns three head outputs).</summary>
    Detection,

    /// <summary>An image classifier (<see cref="ImageClassifier"/>, forward returns logits).</summary>
    Classification,
}

/// <summary>
/// The architectures a recipe may name, each built from a validated <see cref="ModelOptions"/>. Every
/// conv's width comes from the options' channel overrides where given, so the metadata a checkpoint
/// stores (<see cref="ModelOptions.ToMetadata"/>) is enough to rebuild a pruned model.
/// </summary>
public static class ModelRegistry
{
    // Layout: the form built when the options name none. Hidden: a classifier's hidden layer (MobileNetV3's).
    private sealed record Entry(ModelTask Task, ModelLayout Layout, Func<ChannelPlan, ModelOptions, ModelLayout, Backbone> Backbone, int Hidden = 0);

    private static readonly IReadOnlyDictionary<string, Entry> Entries = new Dictionary<string, Entry>(StringComparer.Ordinal)
    {
        ["yolov3_mobilenet_v1"] = new(ModelTask.Detection, ModelLayout.Paddle, (p, o, _) => new MobileNetV1(p, o.InChannels, o.Width)),
        ["yolov3_mobilenet_v3_large"] = new(ModelTask.Detection, ModelLayout.Paddle, (p, o, l) => new MobileNetV3(p, MobileNetV3Size.Large, o.InChannels, o.Width, l)),
        ["yolov3_mobilenet_v3_small"] = new(ModelTask.Detection, ModelLayout.Paddle, (p, o, l) => new MobileNetV3(p, MobileNetV3Size.Small, o.InChannels, o.Width, l)),
        ["yolov3_resnet34"] = new(ModelTask.Detection, ModelLayout.Torchvision, (p, o, l) => new ResNet(p, 34, o.InChannels, o.Width, l)),
        ["mobilenet_v1"] = new(ModelTask.Classification, ModelLayout.Paddle, (p, o, _) => new MobileNetV1(p, o.InChannels, o.Width)),
        ["mobilenet_v2"] = new(ModelTask.Classification, ModelLayout.Torchvision, (p, o, l) => new MobileNetV2(p, o.InChannels, o.Width, l)),
        ["mobilenet_v3_large"] = new(ModelTask.Classification, ModelLayout.Paddle,
            (p, o, l) => new MobileNetV3(p, MobileNetV3Size.Large, o.InChannels, o.Width, l, lastConv: true), Hidden: 1280),
        ["mobilenet_v3_small"] = new(ModelTask.Classification, ModelLayout.Paddle,
            (p, o, l) => new MobileNetV3(p, MobileNetV3Size.Small, o.InChannels, o.Width, l, lastConv: true), Hidden: 1024),
        ["resnet18"] = new(ModelTask.Classification, ModelLayout.Torchvision, (p, o, l) => new ResNet(p, 18, o.InChannels, o.Width, l)),
        ["resnet34"] = new(ModelTask.Classification, ModelLayout.Torchvision, (p, o, l) => new ResNet(p, 34, o.InChannels, o.Width, l)),
        ["resnet50"] = new(ModelTask.Classification, ModelLayout.Torchvision, (p, o, l) => new ResNet(p, 50, o.InChannels, o.Width, l)),
    };

    /// <summary>The layout an architecture is built in when the options name none.</summary>
    public static ModelLayout DefaultLayout(string name) => Lookup(name).Layout;

    /// <summary>All registered architecture names, in registration order.</summary>
    public static IReadOnlyList<string> Names { get; } = Entries.Keys.ToArray();

    /// <summary>Whether name is registered.</summary>
    public static bool Contains(string name) => Entries.ContainsKey(name);

    /// <summary>Detection or classification; throws for an unknown name.</summary>
    public static ModelTask TaskOf(string name) => Lookup(name).Task;

    /// <summary>
    /// Builds the architecture with freshly initialised weights. Throws a <see cref="ModelException"/> for an
    /// unknown name (listing the valid ones and the nearest), an invalid option, or an override that fits no conv.
    /// </summary>
    public static torch.nn.Module Create(string name, ModelOptions options)
    {
        var entry = Lookup(name);
        options.Validate(entry.Task == ModelTask.Detection);
        var plan = new ChannelPlan(options.ChannelOverrides);
        torch.nn.Module model;
        var layout = options.Layout ?? entry.Layout;
        var backbone = entry.Backbone(plan.Scope("backbone"), options, layout);
        try
        {
            // The hidden layer keeps 1280 (1024) units below width 1, as torchvision's and PaddleClas's do.
            model = entry.Task == ModelTask.Detection
                ? new YoloV3(backbone, plan, options.NumClasses, options.AnchorsPerScale, options.Width)
                : new ImageClassifier(backbone, options.NumClasses, entry.Hidden == 0 ? 0 : options.Width > 1 ? Channels.Scale(entry.Hidden, options.Width) : entry.Hidden,
                    hiddenBias: layout == ModelLayout.Torchvision);
        }
        catch
        {
            backbone.Dispose();
            throw;
        }
        try
        {
            plan.EnsureAllUsed(ConvPaths(model));
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>Builds a detector; throws when name is a classifier.</summary>
    public static YoloV3 CreateDetector(string name, ModelOptions options) =>
        TaskOf(name) == ModelTask.Detection
            ? (YoloV3)Create(name, options)
            : throw new ModelException($"model '{name}' is a classifier; detectors are {string.Join(", ", Names.Where(n => TaskOf(n) == ModelTask.Detection))}");

    /// <summary>Builds a classifier; throws when name is a detector.</summary>
    public static ImageClassifier CreateClassifier(string name, ModelOptions options) =>
        TaskOf(name) == ModelTask.Classification
            ? (ImageClassifier)Create(name, options)
            : throw new ModelException($"model '{name}' is a detector; classifiers are {string.Join(", ", Names.Where(n => TaskOf(n) == ModelTask.Classification))}");

    /// <summary>Rebuilds a model from checkpoint metadata written by <see cref="ModelOptions.ToMetadata"/> (weights not loaded).</summary>
    public static torch.nn.Module CreateFromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        var (name, options) = ModelOptions.FromMetadata(metadata);
        return Create(name, options);
    }

    /// <summary>Module paths of every Conv2d in a model: the keys a channel override may use.</summary>
    public static IEnumerable<string> ConvPaths(torch.nn.Module model) =>
        model.named_modules().Where(m => m.module is Conv2d).Select(m => m.name);

    private static Entry Lookup(string name)
    {
        if (Entries.TryGetValue(name, out var e)) return e;
        var near = Slim.Common.Suggest.Nearest(name, Names, 1).FirstOrDefault();
        throw new ModelException($"unknown model '{name}'{(near is null ? "" : $" (did you mean '{near}'?)")}; valid models: {string.Join(", ", Names)}");
    }
}
