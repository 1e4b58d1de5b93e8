using System.Globalization;
using Slim.Compression.Distillation;
using Slim.Data.Transforms;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Tasks.Ssd;

/// <summary>
/// SSD detectors (SSDLite on MobileNetV3 large and small): box deltas and class logits per prior, the multibox loss
/// with 3:1 hard negatives, decoding and class-aware NMS; the same data, metrics and verbs as the YOLOv3 family. Export
/// writes the raw outputs (<c>bbox_deltas</c> [N, P, 4], <c>scores</c> [N, P, C + 1] logits; the priors in the file's
/// metadata) or, with export.postprocess, the detections in the YOLOv3 export's layout.
/// </summary>
public sealed class SsdFamily : TaskFamily
{
    /// <summary>The one instance (registered in <see cref="TaskRegistry"/>).</summary>
    public static SsdFamily Instance { get; } = new();

    private SsdFamily() { }

    public const string InputName = "images";

    /// <summary>Names of the graph outputs: the deltas, then the logits.</summary>
    public static readonly IReadOnlyList<string> OutputNames = ["bbox_deltas", "scores"];

    public override string Name => "ssd";

    public override IReadOnlyList<string> Architectures { get; } = ModelRegistry.NamesOf(ModelTask.Ssd);

    public override torch.nn.Module CreateModel(string architecture, ModelOptions options) => ModelRegistry.CreateSsd(architecture, options);

    public override ITask CreateTask(Recipe recipe, Action<string>? log = null, int? valLimit = null) => SsdTask.Create(recipe, log, valLimit);

    public override IReadOnlyList<Tensor> Forward(torch.nn.Module model, Tensor images) => model switch
    {
        SsdLite ssd => ssd.call(images),
        _ => throw new SlimException($"a {model.TypeName} is not an SSD detector"),
    };

    /// <summary>The backbone and the extra blocks (the head's 1×1 convs give the priors' deltas and logits, which globs skip anyway).</summary>
    public override IReadOnlyList<string> DefaultPrunedParameters { get; } = ["backbone.*", "extra_blocks.*"];

    public override string DefaultPrunedRatios => "flops:0.3";

    /// <summary>The head's 1×1 convs (deltas and logits per prior): kept in float unless quant.quant_output.</summary>
    public override IReadOnlyList<string> OutputLayers { get; } = ["pw_conv"];

    public override (IReadOnlyList<float> Mean, IReadOnlyList<float> Std) DefaultNormalization(int channels) =>
        (DetectionTransforms.ImageNetMean.ToArray(), DetectionTransforms.ImageNetStd.ToArray());

    /// <summary>The modules whose outputs feed the head: L2 distillation pairs them by default (adapters bridge other widths).</summary>
    public static IReadOnlyList<FeaturePair> HeadInputs { get; } =
    [
        .. Enumerable.Range(0, 4).Select(i => new FeaturePair($"extra_blocks.{i}", $"extra_blocks.{i}")),
        new FeaturePair("backbone.conv_last", "backbone.conv_last"),
    ];

    /// <summary>
    /// l2_distill on the head's inputs (conv_last and the extra blocks), weight 1: PaddleDetection publishes no SSD
    /// distillation, and its YOLOv3 weight of 100 on these unnormalized maps (hard-swish and ReLU6 outputs) makes the term
    /// hundreds of times the multibox loss and diverges. soft_label and split_distill are refused.
    /// </summary>
    public override DistillationOptions Distillation(DistillSection section, ModelOptions student)
    {
        if (section.Type is DistillKind.SoftLabel or DistillKind.SplitDistill)
            throw new DistillationException("distill.type: an SSD detector distils its head inputs with l2_distill");
        var options = new DistillationOptions
        {
            Kind = DistillationKind.L2,
            Weight = section.Weight ?? 1,
            Pairs = section.Pairs.Count > 0 ? section.Pairs.Select(FeaturePair.Parse).ToArray() : HeadInputs,
        };
        options.Check();
        return options;
    }

    public override string? CheckRecipe(Recipe recipe)
    {
        if (recipe.Model.InputSize < 64 || recipe.Model.InputSize % 32 != 0)
            return $"model.input_size: {recipe.Model.InputSize}; an SSDLite takes a multiple of 32 of at least 64 (320 as PaddleDetection's)";
        if (recipe.Train.Metric is MetricKind.Top1 or MetricKind.MIoU)
            return $"train.metric: {RecipeBinder.EnumName(typeof(MetricKind), recipe.Train.Metric)} is not a detector's metric; a detector is scored with voc, voc_11point or coco";
        if (recipe.Export.Logits)
            return "export.logits is a segmenter's choice between class ids and logits: drop the key";
        return null;
    }

    public override OnnxExportOptions ExportOptions(string architecture, ModelOptions model, ExportModelInfo info, ExportSection section)
    {
        if (info.ClassNames is { } names && names.Count != model.NumClasses)
            throw new SlimException($"export: the checkpoint's model has {model.NumClasses} classes but {names.Count} class names were given");
        var priors = SsdTask.Priors(architecture, model with { InputSize = info.InputSize });
        var extra = new Dictionary<string, string>
        {
            ["architecture"] = architecture,
            ["task"] = Name,
            ["num_classes"] = model.NumClasses.ToString(CultureInfo.InvariantCulture),
            ["input_size"] = info.InputSize.ToString(CultureInfo.InvariantCulture),
            ["preprocess"] = "RGB; resize to input_size x input_size (bicubic); x = (pixel / 255 - mean) / std",
            ["priors"] = System.Text.Json.JsonSerializer.Serialize(priors),
            ["variances"] = "[0.1,0.1,0.2,0.2]",
            ["output_layout"] = section.Postprocess
                ? "num_detections [N, 1]; detection_boxes [N, T, 4] x1, y1, x2, y2 in original-image pixels; detection_scores [N, T] best first; " +
                  "detection_classes [N, T] (-1 past num_detections); input scale_factor [N, 2] = input_size / original (height, width)"
                : "bbox_deltas [N, P, 4] (dx, dy, dw, dh against prior p, normalized x1 y1 x2 y2 in 'priors', variances 'variances'); " +
                  "scores [N, P, num_classes + 1] logits, background last: softmax, then class-aware NMS",
        };
        if (info.ClassNames is not null) extra[ExportModelInfo.ClassNamesKey] = string.Join("\n", info.ClassNames);
        return new OnnxExportOptions
        {
            InputShape = [model.InChannels, info.InputSize, info.InputSize],
            InputName = InputName,
            OutputNames = OutputNames,
            ModelName = info.ModelName,
            Mean = (info.Mean ?? DetectionTransforms.ImageNetMean).ToArray(),
            Std = (info.Std ?? DetectionTransforms.ImageNetStd).ToArray(),
            ClassNames = info.ClassNames,
            ExtraMetadata = extra,
            FoldBatchNorm = true,
            SsdPostprocess = section.Postprocess ? new SsdPostprocessOptions(priors, model.NumClasses, Nms(section)) : null,
        };
    }

    /// <summary>The recipe's export.nms where it differs from the YOLOv3 defaults the section starts with, else SSDLite's MultiClassNMS.</summary>
    public static Slim.Detection.NmsOptions Nms(ExportSection section)
    {
        var defaults = new NmsSection();
        var n = section.Nms;
        var d = Slim.Detection.SsdDecoder.DefaultNms;
        return new Slim.Detection.NmsOptions
        {
            ScoreThreshold = n.ScoreThreshold != defaults.ScoreThreshold ? n.ScoreThreshold : d.ScoreThreshold,
            NmsThreshold = n.NmsThreshold != defaults.NmsThreshold ? n.NmsThreshold : d.NmsThreshold,
            NmsTopK = n.NmsTopK != defaults.NmsTopK ? n.NmsTopK : d.NmsTopK,
            KeepTopK = n.KeepTopK != defaults.KeepTopK ? n.KeepTopK : d.KeepTopK,
        };
    }

    /// <summary>The outputs, or the detections with the thresholds baked in.</summary>
    public override string ExportForm(ExportSection section) => section.Postprocess
        ? $"in-graph decoding and NMS (score > {Nms(section).ScoreThreshold.ToString(CultureInfo.InvariantCulture)}, keep {Nms(section).KeepTopK})"
        : "raw outputs (deltas and logits per prior)";
}
