using System.Globalization;
using System.Text.Json;
using Slim.Compression.Distillation;
using Slim.Data.Transforms;
using Slim.Detection;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Tasks.Detection;

/// <summary>
/// YOLOv3 detectors (MobileNetV1/V3 and ResNet backbones): raw head outputs at strides 32, 16, 8,
/// PaddleDetection's parameter names, the YOLO head's convs pruned by default, fine-grained YOLO
/// distillation of the head outputs by default, and export with optional in-graph decoding and NMS.
/// </summary>
public sealed class DetectionFamily : TaskFamily
{
    /// <summary>The one instance (registered in <see cref="TaskRegistry"/>).</summary>
    public static DetectionFamily Instance { get; } = new();

    private DetectionFamily() { }

    /// <summary>Name of the graph input.</summary>
    public const string InputName = "images";

    /// <summary>Names of the head outputs, coarsest (stride 32) first; ordinal order is head order, which ONNX evaluation relies on.</summary>
    public static readonly IReadOnlyList<string> OutputNames = new[] { "output_0", "output_1", "output_2" };

    public override string Name => "detection";

    public override IReadOnlyList<string> Architectures { get; } = ModelRegistry.NamesOf(ModelTask.Detection);

    public override torch.nn.Module CreateModel(string architecture, ModelOptions options) => ModelRegistry.CreateDetector(architecture, options);

    public override ITask CreateTask(Recipe recipe, Action<string>? log = null, int? valLimit = null) => DetectionTask.Create(recipe, log, valLimit);

    public override IReadOnlyList<Tensor> Forward(torch.nn.Module model, Tensor images) => model switch
    {
        torch.nn.Module<Tensor, Tensor[]> det => det.call(images),
        _ => throw new SlimException($"a {model.TypeName} is not a detector (it does not return head outputs)"),
    };

    public override IReadOnlyList<string> DefaultPrunedParameters { get; } = new[] { "yolo_block.*.conv.weights" };

    /// <summary>PaddleSlim's r578 preset for the YOLO head.</summary>
    public override string DefaultPrunedRatios => "r578";

    /// <summary>The three output convs (yolo_output.*): kept in float unless quant.quant_output.</summary>
    public override IReadOnlyList<string> OutputLayers { get; } = new[] { "yolo_output" };

    /// <summary>PaddleDetection's DistillYOLOv3Loss weight (configs/slim/distill/yolov3_mobilenet_v1_coco_distill.yml).</summary>
    public const double SplitDistillWeight = 1000;

    /// <summary>The weight of PaddleDetection's static-graph l2_distill(pairs, 100) (slim/distillation/distill.py).</summary>
    public const double L2DistillWeight = 100;

    /// <summary>The inputs of the three output convs (the tips of the YOLO blocks), which PaddleDetection's static trainer pairs for l2_distill.</summary>
    public static IReadOnlyList<FeaturePair> OutputConvInputs { get; } =
        Enumerable.Range(0, 3).Select(i => new FeaturePair($"yolo_block.{i}.tip", $"yolo_block.{i}.tip")).ToArray();

    public override (IReadOnlyList<float> Mean, IReadOnlyList<float> Std) DefaultNormalization(int channels) =>
        (DetectionTransforms.ImageNetMean.ToArray(), DetectionTransforms.ImageNetStd.ToArray());

    /// <summary>
    /// split_distill on the three head outputs (weight 1000), or l2_distill on the inputs of the three output convs (weight
    /// 100), PaddleDetection's defaults, unless the section names its own.
    /// </summary>
    public override DistillationOptions Distillation(DistillSection section, ModelOptions student)
    {
        if (section.Type == DistillKind.SoftLabel)
            throw new DistillationException("distill.type soft_label distils class probabilities of a classifier; a detector uses split_distill or l2_distill");
        bool l2 = section.Type == DistillKind.L2Distill;
        var pairs = section.Pairs.Count > 0 ? section.Pairs.Select(FeaturePair.Parse).ToArray() : l2 ? OutputConvInputs : FeaturePair.YoloOutputs;
        if (section.Mask == ImitationMask.TeacherObjectness)
        {
            if (!l2)
                throw new DistillationException("distill.mask: teacher_objectness weighs l2_distill's feature maps; split_distill weighs by the teacher's objectness already: set type: l2_distill or drop mask");
            if (pairs.Count != FeaturePair.YoloOutputs.Count)
                throw new DistillationException($"distill.mask: teacher_objectness takes pair i's mask from the teacher's yolo_output.i, so it needs the {FeaturePair.YoloOutputs.Count} pairs of the head's scales in order; this stage has {pairs.Count}");
        }
        var options = new DistillationOptions
        {
            Kind = l2 ? DistillationKind.L2 : DistillationKind.Split,
            Weight = section.Weight ?? (l2 ? L2DistillWeight : SplitDistillWeight),
            Pairs = pairs,
            Anchors = student.AnchorsPerScale,
            ObjectnessMaskFrom = section.Mask == ImitationMask.TeacherObjectness ? FeaturePair.YoloOutputs.Select(p => p.Teacher).ToArray() : null,
            XyWeight = section.XyWeight,
            WhWeight = section.WhWeight,
            ObjWeight = section.ObjWeight,
            ClsWeight = section.ClsWeight,
        };
        options.Check();
        return options;
    }

    /// <summary>The head outputs, or the detections with the thresholds baked in.</summary>
    public override string ExportForm(ExportSection section) => section.Postprocess
        ? $"in-graph post-processing (score > {section.Nms.ScoreThreshold.ToString(CultureInfo.InvariantCulture)}, keep {section.Nms.KeepTopK})"
        : "raw outputs";

    public override string? CheckRecipe(Recipe recipe)
    {
        if (recipe.Export.Logits)
            return "export.logits is a segmenter's choice between class ids and logits; a detector exports its head outputs (or, with export.postprocess, detections): drop the key";
        if (recipe.Model.InputSize % 32 != 0)
            return $"model.input_size: {recipe.Model.InputSize} is not a multiple of 32; a detector needs one (e.g. 320, 416, 608)";
        if (recipe.Train.Metric is MetricKind.Top1 or MetricKind.MIoU)
            return $"train.metric: {RecipeBinder.EnumName(typeof(MetricKind), recipe.Train.Metric)} is not a detector's metric; a detector is scored with voc, voc_11point or coco";
        return null;
    }

    public override OnnxExportOptions ExportOptions(string architecture, ModelOptions model, ExportModelInfo info, ExportSection section)
    {
        if (info.InputSize < 32 || info.InputSize % 32 != 0)
            throw new SlimException($"export: input size {info.InputSize} is not a positive multiple of 32 (model.input_size)");
        if (info.ClassNames is { } names && names.Count != model.NumClasses)
            throw new SlimException($"export: the checkpoint's model has {model.NumClasses} classes but {names.Count} class names were given ({string.Join(", ", names.Take(5))}…)");
        var postprocess = section.Postprocess ? section.Nms : null;
        var geometry = new YoloGeometry { NumClasses = model.NumClasses };
        static string Json<T>(T v) => JsonSerializer.Serialize(v);
        var extra = new Dictionary<string, string>
        {
            ["architecture"] = architecture,
            ["task"] = Name,
            ["num_classes"] = model.NumClasses.ToString(CultureInfo.InvariantCulture),
            ["input_size"] = info.InputSize.ToString(CultureInfo.InvariantCulture),
            ["anchors"] = Json(geometry.Anchors),
            ["anchor_masks"] = Json(geometry.AnchorMasks),
            ["strides"] = Json(geometry.DownsampleRatios),
            ["preprocess"] = "RGB; resize to input_size x input_size (bicubic, no letterbox); x = (pixel / 255 - mean) / std",
            ["output_layout"] = postprocess is null
                ? "output_i: [N, A*(5+C), H, W] per stride in 'strides'; per anchor x, y, w, h, objectness, C class logits (YOLOv3)"
                : "num_detections [N, 1]; detection_boxes [N, T, 4] x1, y1, x2, y2 in original-image pixels; detection_scores [N, T] best first; " +
                  "detection_classes [N, T] (-1 past num_detections); input scale_factor [N, 2] = input_size / original (height, width)",
        };
        if (info.ClassNames is not null) extra[ExportModelInfo.ClassNamesKey] = string.Join("\n", info.ClassNames);
        return new OnnxExportOptions
        {
            InputShape = new long[] { model.InChannels, info.InputSize, info.InputSize },
            InputName = InputName,
            OutputNames = OutputNames,
            ModelName = info.ModelName,
            Mean = (info.Mean ?? DetectionTransforms.ImageNetMean).ToArray(),
            Std = (info.Std ?? DetectionTransforms.ImageNetStd).ToArray(),
            ClassNames = info.ClassNames,
            ExtraMetadata = extra,
            FoldBatchNorm = true,
            Postprocess = postprocess?.ToDecoderOptions(geometry),
        };
    }
}
