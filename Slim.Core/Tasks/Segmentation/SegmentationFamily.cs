using System.Globalization;
using Slim.Compression.Distillation;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Tasks.Segmentation;

/// <summary>
/// Semantic segmenters (Fast-SCNN, DeepLabv3/v3+ on MobileNetV2): per-pixel logits [N, classes, H, W] at the input's size,
/// every conv prunable but the last (class maps), pixel-wise soft-label distillation of the output logits by default,
/// export with input <c>images</c> and output <c>class_ids</c> [N, H, W] (the per-pixel argmax) or, with
/// <c>export.logits</c>, <c>logits</c>.
/// </summary>
public sealed class SegmentationFamily : TaskFamily
{
    /// <summary>The one instance (registered in <see cref="TaskRegistry"/>).</summary>
    public static SegmentationFamily Instance { get; } = new();

    private SegmentationFamily() { }

    /// <summary>Name of the graph input.</summary>
    public const string InputName = "images";

    /// <summary>Name of the graph output with export.logits: the per-pixel logits [N, classes, H, W].</summary>
    public const string LogitsName = "logits";

    /// <summary>Name of the graph output by default: the per-pixel class ids [N, H, W] (int64).</summary>
    public const string ClassIdsName = "class_ids";

    /// <summary>Label value that neither the loss nor the metric counts (PaddleSeg's ignore_index, Cityscapes' unlabeled).</summary>
    public const int IgnoreIndex = 255;

    /// <summary>The last convs (one map per class) of Fast-SCNN (<c>classifier.conv</c>) and DeepLab (<c>logit.conv</c>).</summary>
    public static readonly IReadOnlyList<string> ClassMapConvs = ["classifier.conv", "logit.conv"];

    public override string Name => "segmentation";

    public override IReadOnlyList<string> Architectures { get; } = ModelRegistry.NamesOf(ModelTask.Segmentation);

    public override torch.nn.Module CreateModel(string architecture, ModelOptions options) => ModelRegistry.CreateSegmenter(architecture, options);

    public override ITask CreateTask(Recipe recipe, Action<string>? log = null, int? valLimit = null) => SegmentationTask.Create(recipe, log, valLimit);

    public override IReadOnlyList<Tensor> Forward(torch.nn.Module model, Tensor images) => model switch
    {
        torch.nn.Module<Tensor, Tensor> seg => [seg.call(images)],
        _ => throw new SlimException($"a {model.TypeName} is not a segmenter (it does not map images to per-pixel logits)"),
    };

    /// <summary>The per-pixel class ids, or the logits with export.logits.</summary>
    public override IReadOnlyList<Tensor> ExportForward(torch.nn.Module model, Tensor images, ExportSection section)
    {
        var logits = Forward(model, images)[0];
        return section.Logits ? [logits] : [logits.argmax(1)];
    }

    public override string ExportForm(ExportSection section) => section.Logits ? "per-pixel logits" : "per-pixel class ids";

    /// <summary>Every conv (the classifier's output conv is fixed at the class count by the model itself).</summary>
    public override IReadOnlyList<string> DefaultPrunedParameters { get; } = ["*"];

    /// <summary>One ratio over every conv for −47.6 % FLOPs, PaddleX's Fast-SCNN row.</summary>
    public override string DefaultPrunedRatios => "flops:0.476";

    /// <summary>The last conv (one map per class): kept in float unless quant.quant_output, as a detector's output convs.</summary>
    public override IReadOnlyList<string> OutputLayers => ClassMapConvs;

    /// <summary>PaddleSeg's default Normalize: mean 0.5 and std 0.5 per channel (pixels on [-1, 1]).</summary>
    public override (IReadOnlyList<float> Mean, IReadOnlyList<float> Std) DefaultNormalization(int channels) =>
        (Enumerable.Repeat(0.5f, channels).ToArray(), Enumerable.Repeat(0.5f, channels).ToArray());

    /// <summary>
    /// soft_label (pixel-wise KL) on the model's output logits at the input's size by default (so a teacher of another
    /// architecture fits: DeepLab's logits are at 1/4 or 1/16 inside, Fast-SCNN's at 1/8); l2_distill on the same unless
    /// the section names pairs.
    /// </summary>
    public override DistillationOptions Distillation(DistillSection section, ModelOptions student)
    {
        var kind = section.Type switch
        {
            DistillKind.SoftLabel or null => DistillationKind.SoftLabel,
            DistillKind.L2Distill => DistillationKind.L2,
            _ => throw new DistillationException("distill.type split_distill distils YOLO head outputs; a segmenter uses soft_label (pixel-wise KL of the logits) or l2_distill (features)"),
        };
        var options = new DistillationOptions
        {
            Kind = kind,
            Weight = section.Weight ?? 1.0,
            Temperature = section.Temperature,
            Pairs = section.Pairs.Count == 0 ? [FeaturePair.ModelOutput] : section.Pairs.Select(FeaturePair.Parse).ToArray(),
        };
        options.Check();
        return options;
    }

    public override string? CheckRecipe(Recipe recipe)
    {
        if (recipe.Export.Postprocess)
            return "export.postprocess: box decoding and NMS are a detector's; a segmenter exports class ids (or logits with export.logits: true); set it to false";
        if (recipe.Train.Metric is MetricKind.Coco or MetricKind.Voc11Point or MetricKind.Top1)
            return $"train.metric: {RecipeBinder.EnumName(typeof(MetricKind), recipe.Train.Metric)} is not a segmentation metric; a segmenter is scored with miou";
        if (recipe.Model.Name == "fast_scnn" && FastScnn.WidthProblem(recipe.Model.Width) is { } width)
            return width.Replace("model option width", "model.width", StringComparison.Ordinal);
        if (recipe.Model.InputSize < 32)
            return $"model.input_size: {recipe.Model.InputSize} is too small; a segmenter downsamples by 32, so give at least 32 (e.g. 256, 512, 1024)";
        return null;
    }

    public override OnnxExportOptions ExportOptions(string architecture, ModelOptions model, ExportModelInfo info, ExportSection section)
    {
        if (section.Postprocess)
            throw new SlimException("export.postprocess: box decoding and NMS are a detector's; a segmenter exports class ids (or logits with export.logits: true); set it to false");
        if (info.ClassNames is { } names && names.Count != model.NumClasses)
            throw new SlimException($"export: the checkpoint's model has {model.NumClasses} classes but {names.Count} class names were given");
        var (mean, std) = DefaultNormalization(model.InChannels);
        if (info.Mean is { } m && info.Std is { } sd)
        {
            if (m.Count != model.InChannels || sd.Count != model.InChannels)
                throw new SlimException($"export: the recorded normalization has {m.Count} mean and {sd.Count} std values for a {model.InChannels}-channel input");
            (mean, std) = (m, sd);
        }
        var extra = new Dictionary<string, string>
        {
            ["architecture"] = architecture,
            ["task"] = Name,
            ["num_classes"] = model.NumClasses.ToString(CultureInfo.InvariantCulture),
            ["input_size"] = info.InputSize.ToString(CultureInfo.InvariantCulture),
            ["ignore_index"] = IgnoreIndex.ToString(CultureInfo.InvariantCulture),
            ["preprocess"] = "RGB; resize to input_size x input_size (bilinear); x = (pixel / 255 - mean) / std",
            ["output_layout"] = section.Logits
                ? "logits: [N, num_classes, H, W] at the input's size; the class of a pixel is the argmax over axis 1"
                : "class_ids: [N, H, W] int64, the class of each pixel at the input's size",
        };
        if (info.ClassNames is not null) extra[ExportModelInfo.ClassNamesKey] = string.Join("\n", info.ClassNames);
        return new OnnxExportOptions
        {
            InputShape = [model.InChannels, info.InputSize, info.InputSize],
            InputName = InputName,
            OutputNames = [section.Logits ? LogitsName : ClassIdsName],
            ModelName = info.ModelName,
            Mean = mean.ToArray(),
            Std = std.ToArray(),
            ClassNames = info.ClassNames,
            ExtraMetadata = extra,
            FoldBatchNorm = true,
        };
    }

    public override string Describe(ModelSection model) => model.Width == 1 ? $"{model.Name}, {model.InputSize} px" : base.Describe(model);
}
