using System.Globalization;
using Slim.Compression.Distillation;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Tasks.Classification;

/// <summary>
/// Image classifiers (MobileNetV1/V2, ResNet18/34/50): logits [N, classes], every conv prunable,
/// soft-label (KL with temperature) distillation of the logits by default, export with input
/// <c>images</c> and output <c>logits</c>.
/// </summary>
public sealed class ClassificationFamily : TaskFamily
{
    /// <summary>The one instance (registered in <see cref="TaskRegistry"/>).</summary>
    public static ClassificationFamily Instance { get; } = new();

    private ClassificationFamily() { }

    /// <summary>Name of the graph input.</summary>
    public const string InputName = "images";

    /// <summary>Name of the graph output.</summary>
    public const string OutputName = "logits";

    /// <summary>The module whose output is the logits (the default soft-label pair).</summary>
    public const string LogitsModule = "fc";

    /// <summary>The module whose output is the pooled feature vector (the default l2 pair).</summary>
    public const string FeatureModule = "pool";

    public override string Name => "classification";

    public override IReadOnlyList<string> Architectures { get; } = ModelRegistry.NamesOf(ModelTask.Classification);

    public override torch.nn.Module CreateModel(string architecture, ModelOptions options) => ModelRegistry.CreateClassifier(architecture, options);

    public override ITask CreateTask(Recipe recipe, Action<string>? log = null, int? valLimit = null) => ClassificationTask.Create(recipe, log, valLimit);

    public override IReadOnlyList<Tensor> Forward(torch.nn.Module model, Tensor images) => model switch
    {
        torch.nn.Module<Tensor, Tensor> cls => new[] { cls.call(images) },
        _ => throw new SlimException($"a {model.TypeName} is not a classifier (it does not map images to logits)"),
    };

    /// <summary>Every conv of the network (the fc's inputs follow the last one).</summary>
    public override IReadOnlyList<string> DefaultPrunedParameters { get; } = new[] { "*" };

    /// <summary>One ratio over every conv for -30% FLOPs, as the classification model zoo's first row.</summary>
    public override string DefaultPrunedRatios => "flops:0.3";

    public override (IReadOnlyList<float> Mean, IReadOnlyList<float> Std) DefaultNormalization(int channels) => Normalization(channels);

    /// <summary>soft_label on the logits (fc) by default; l2_distill on the pooled features (pool) unless the section names pairs.</summary>
    public override DistillationOptions Distillation(DistillSection section, ModelOptions student)
    {
        var kind = section.Type switch
        {
            DistillKind.SoftLabel or null => DistillationKind.SoftLabel,
            DistillKind.L2Distill => DistillationKind.L2,
            _ => throw new DistillationException("distill.type split_distill distils YOLO head outputs; a classifier uses soft_label (logits) or l2_distill (features)"),
        };
        var fallback = kind == DistillationKind.SoftLabel ? LogitsModule : FeatureModule;
        var options = new DistillationOptions
        {
            Kind = kind,
            Weight = section.Weight ?? 1.0,
            Temperature = section.Temperature,
            Pairs = section.Pairs.Count == 0 ? new[] { new FeaturePair(fallback, fallback) } : section.Pairs.Select(FeaturePair.Parse).ToArray(),
        };
        options.Check();
        return options;
    }

    public override string ExportForm(ExportSection section) => "logits";

    public override string? CheckRecipe(Recipe recipe)
    {
        if (recipe.Export.Logits)
            return "export.logits is a segmenter's choice between class ids and logits; a classifier's output is its logits already: drop the key";
        if (recipe.Export.Postprocess)
            return "export.postprocess: a classifier has no post-processing to put in the graph (its output is the logits); set it to false";
        // voc is the schema's default, so it cannot tell a choice; the other detection metrics can.
        if (recipe.Train.Metric is MetricKind.Coco or MetricKind.Voc11Point or MetricKind.MIoU)
            return $"train.metric: {RecipeBinder.EnumName(typeof(MetricKind), recipe.Train.Metric)} is not a classifier's metric; a classifier is scored with top1";
        return null;
    }

    public override OnnxExportOptions ExportOptions(string architecture, ModelOptions model, ExportModelInfo info, ExportSection section)
    {
        if (section.Postprocess)
            throw new SlimException("export.postprocess: a classifier has no post-processing to put in the graph (its output is the logits); set it to false");
        if (info.ClassNames is { } names && names.Count != model.NumClasses)
            throw new SlimException($"export: the checkpoint's model has {model.NumClasses} classes but {names.Count} class names were given");
        var (mean, std) = Normalization(model.InChannels);
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
            ["preprocess"] = model.InChannels == 1
                ? "gray; resize to input_size x input_size (bilinear); x = (pixel / 255 - mean) / std"
                : "RGB; resize to input_size x input_size (bilinear); x = (pixel / 255 - mean) / std",
            ["output_layout"] = "logits: [N, num_classes]; the class is the argmax",
        };
        if (info.ClassNames is not null) extra[ExportModelInfo.ClassNamesKey] = string.Join("\n", info.ClassNames);
        return new OnnxExportOptions
        {
            InputShape = new long[] { model.InChannels, info.InputSize, info.InputSize },
            InputName = InputName,
            OutputNames = new[] { OutputName },
            ModelName = info.ModelName,
            Mean = mean.ToArray(),
            Std = std.ToArray(),
            ClassNames = info.ClassNames,
            ExtraMetadata = extra,
            FoldBatchNorm = true,
        };
    }

    /// <summary>What the loaders normalize with: Fashion-MNIST's gray statistics for 1 channel, ImageNet's for 3.</summary>
    private static (IReadOnlyList<float> Mean, IReadOnlyList<float> Std) Normalization(int channels) => channels == 1
        ? (Slim.Data.ClassificationLoaderOptions.FashionMnistMean.ToArray(), Slim.Data.ClassificationLoaderOptions.FashionMnistStd.ToArray())
        : (Slim.Data.Transforms.DetectionTransforms.ImageNetMean.ToArray(), Slim.Data.Transforms.DetectionTransforms.ImageNetStd.ToArray());
}
