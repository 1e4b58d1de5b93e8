using Slim.Detection;
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

    /// <summary>An SSD detector (<see cref="SsdLite"/>, forward returns box deltas [N, priors, 4] and class logits [N, priors, C + 1]).</summary>
    Ssd,

    /// <summary>A semantic segmenter (forward returns per-pixel logits [N, classes, H, W] at the input's size).</summary>
    Segmentation,
}

/// <summary>
/// The architectures a recipe may name, each built from a validated <see cref="ModelOptions"/>. Every
/// conv's width comes from the options' channel overrides where given, so the metadata a checkpoint
/// stores (<see cref="ModelOptions.ToMetadata"/>) is enough to rebuild a pruned model.
/// </summary>
public static class ModelRegistry
{
    // Layout: the form built when the options name none. Hidden: a classifier's hidden layer (MobileNetV3's).
    // Whole: a network that is not a backbone plus a head (segmenters); Backbone is then unused.
    private sealed record Entry(ModelTask Task, ModelLayout Layout, Func<ChannelPlan, ModelOptions, ModelLayout, Backbone>? Backbone, int Hidden = 0,
        Func<ChannelPlan, ModelOptions, ModelLayout, torch.nn.Module>? Whole = null);

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
        ["ssdlite_mobilenet_v3_large"] = new(ModelTask.Ssd, ModelLayout.Paddle, null,
            Whole: (p, o, l) => new SsdLite(p, MobileNetV3Size.Large, o.NumClasses, o.InChannels, o.Width, l, SsdPriorOptions.ForInput(o.InputSize))),
        ["ssdlite_mobilenet_v3_small"] = new(ModelTask.Ssd, ModelLayout.Paddle, null,
            Whole: (p, o, l) => new SsdLite(p, MobileNetV3Size.Small, o.NumClasses, o.InChannels, o.Width, l, SsdPriorOptions.ForInput(o.InputSize))),
        ["fast_scnn"] = new(ModelTask.Segmentation, ModelLayout.Paddle, null, Whole: (p, o, _) => FastScnn.WidthProblem(o.Width) is { } problem
            ? throw new ModelException(problem) : new FastScnn(p, o.NumClasses, o.InChannels)),
        ["deeplabv3_mobilenet_v2"] = new(ModelTask.Segmentation, ModelLayout.Paddle, null, Whole: (p, o, _) => new DeepLabV3(p, o.NumClasses, o.InChannels, o.Width, plus: false)),
        ["deeplabv3p_mobilenet_v2"] = new(ModelTask.Segmentation, ModelLayout.Paddle, null, Whole: (p, o, _) => new DeepLabV3(p, o.NumClasses, o.InChannels, o.Width, plus: true)),
    };

    /// <summary>The layout an architecture is built in when the options name none.</summary>
    public static ModelLayout DefaultLayout(string name) => Lookup(name).Layout;

    /// <summary>All registered architecture names, in registration order.</summary>
    public static IReadOnlyList<string> Names { get; } = Entries.Keys.ToArray();

    /// <summary>Whether name is registered.</summary>
    public static bool Contains(string name) => Entries.ContainsKey(name);

    /// <summary>Detection, classification or segmentation; throws for an unknown name.</summary>
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
        if (entry.Whole is { } whole)
        {
            model = whole(plan, options, layout);
            return Checked(model, plan);
        }
        var backbone = entry.Backbone!(plan.Scope("backbone"), options, layout);
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
        return Checked(model, plan);
    }

    // Every channel override must have named a conv of the model built.
    private static torch.nn.Module Checked(torch.nn.Module model, ChannelPlan plan)
    {
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

    /// <summary>Builds a detector; throws when name is not one.</summary>
    public static YoloV3 CreateDetector(string name, ModelOptions options) => (YoloV3)CreateOf(ModelTask.Detection, name, options);

    /// <summary>Builds a classifier; throws when name is not one.</summary>
    public static ImageClassifier CreateClassifier(string name, ModelOptions options) => (ImageClassifier)CreateOf(ModelTask.Classification, name, options);

    /// <summary>Builds an SSD detector; throws when name is not one.</summary>
    public static SsdLite CreateSsd(string name, ModelOptions options) => (SsdLite)CreateOf(ModelTask.Ssd, name, options);

    /// <summary>Builds a segmenter (forward: images → [N, classes, H, W] logits); throws when name is not one.</summary>
    public static torch.nn.Module<Tensor, Tensor> CreateSegmenter(string name, ModelOptions options) => (torch.nn.Module<Tensor, Tensor>)CreateOf(ModelTask.Segmentation, name, options);

    /// <summary>The names of one task's architectures.</summary>
    public static IReadOnlyList<string> NamesOf(ModelTask task) => Names.Where(n => TaskOf(n) == task).ToArray();

    private static torch.nn.Module CreateOf(ModelTask task, string name, ModelOptions options)
    {
        var actual = TaskOf(name);
        if (actual != task)
            throw new ModelException($"model '{name}' is a {Noun(actual)}; {Noun(task)}s are {string.Join(", ", NamesOf(task))}");
        return Create(name, options);
    }

    private static string Noun(ModelTask task) => task switch
    {
        ModelTask.Detection => "detector",
        ModelTask.Ssd => "SSD detector",
        ModelTask.Classification => "classifier",
        _ => "segmenter",
    };

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
