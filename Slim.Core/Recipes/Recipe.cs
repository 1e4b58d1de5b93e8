namespace Slim.Recipes;

/// <summary>
/// One experiment: the model, the data, how to train the baseline, the ordered compression
/// stages, and how to export and verify the result. The C# records are the source of truth;
/// YAML is a thin front end over them (snake_case keys).
/// </summary>
public sealed class Recipe : IValidatedRecipe
{
    [Doc("Name of the experiment, used in reports.")]
    public string Name { get; set; } = "experiment";

    [Doc("Seed for weights, data order and augmentation; the same seed gives the same run.")]
    public long Seed { get; set; }

    [Doc("Device: cpu, cuda or cuda:N (cuda needs a CUDA build of libtorch).")]
    public string Device { get; set; } = "cpu";

    [Doc("libtorch intra-op threads; 0 uses all cores.")]
    [Bounds(0, 1024)]
    public int Threads { get; set; }

    [Doc("The network to train and compress.")]
    public ModelSection Model { get; set; } = new();

    [Doc("Where the images and annotations are.")]
    public DatasetSection Dataset { get; set; } = new();

    [Doc("How the baseline is trained (and the defaults every fine-tune starts from).")]
    public TrainSection Train { get; set; } = new();

    [Doc("Compression stages, run in order; each item has one key: prune, distill or quant.")]
    public List<StageSection> Stages { get; set; } = new();

    [Doc("ONNX export of the final model.")]
    public ExportSection Export { get; set; } = new();

    [Doc("Accuracy check of the exported model in ONNX Runtime against a baseline.")]
    public VerifySection Verify { get; set; } = new();

    public string? Validate()
    {
        try
        {
            _ = Torch.Device.Parse(Device);
        }
        catch (Torch.TorchException e)
        {
            return $"device: {e.Message}";
        }
        return null;
    }
}

/// <summary>The network.</summary>
public sealed class ModelSection : IValidatedRecipe
{
    /// <summary>A message describing what is wrong, or null.</summary>
    public string? Validate() => Checkpoint is not null && Pretrained is not null
        ? "model.checkpoint and model.pretrained both given: checkpoint loads a model of this recipe whole, pretrained starts it from other weights; keep one"
        : PretrainedBackboneOnly && Pretrained is null ? "model.pretrained_backbone_only is set without model.pretrained; name the weights or drop it" : null;

    [Doc("Architecture name, e.g. yolov3_mobilenet_v1, yolov3_mobilenet_v3_large, yolov3_resnet34, mobilenet_v1, resnet50.")]
    public string Name { get; set; } = "yolov3_mobilenet_v1";

    [Doc("Number of classes; 0 takes it from the dataset.")]
    [Bounds(0, 100000)]
    public int NumClasses { get; set; }

    [Doc("Channel width multiplier of backbone and head (1.0 is the published model).")]
    [Bounds(0.05, 4)]
    public double Width { get; set; } = 1.0;

    [Doc("Square input size in pixels (a multiple of 32 for detectors).")]
    [Bounds(32, 4096)]
    public int InputSize { get; set; } = 608;

    [Doc("Input image channels; 0 takes the dataset's (1 for fashion_mnist, 3 for RGB images). 3 on fashion_mnist repeats the gray plane.")]
    [Bounds(0, 3)]
    public int InChannels { get; set; }

    [Doc("Checkpoint to start from instead of random weights (optional): a Slim checkpoint of this model, loaded whole.")]
    public string? Checkpoint { get; set; }

    [Doc("Pretrained weights to start training from (optional): a Slim checkpoint (one slim import wrote, or a model Slim trained) or a torch.save/.pdparams file with a built-in map. Tensors are matched by name; a shape that does not fit is an error; what is left at its initial values is said.")]
    public string? Pretrained { get; set; }

    [Doc("With pretrained: take only the backbone (backbone.*), e.g. a classifier's under a detector's head; needed when the pretrained model is of another architecture.")]
    public bool PretrainedBackboneOnly { get; set; }

    [Doc("Which framework's form of the architecture to build where they differ: paddle (PaddleDetection/PaddleClas: every MobileNetV2/V3 unit expands, a ResNet18/34's res2a projects its shortcut) or torchvision. Default: the form of model.pretrained or model.checkpoint, else the architecture's own (paddle for MobileNetV3, torchvision for MobileNetV2 and ResNet).")]
    public Slim.Models.ModelLayout? Layout { get; set; }
}

/// <summary>Dataset formats.</summary>
public enum DatasetFormat
{
    Coco,
    Voc,
    [Key("synthetic")] Synthetic,
    FashionMnist,
    ImageFolder,
    Cityscapes,
    SegmentationList,
}

/// <summary>The data.</summary>
public sealed class DatasetSection : IValidatedRecipe
{
    [Doc("coco, voc, synthetic (generated offline into root; with label PNGs for a segmenter), for classifiers fashion_mnist or image_folder (root/train/<class>/*.jpg, root/val/<class>/*.jpg), for segmenters cityscapes (root/leftImg8bit, root/gtFine *_labelTrainIds.png) or segmentation_list (\"image label\" list files).")]
    public DatasetFormat Format { get; set; } = DatasetFormat.Synthetic;

    [Doc("Dataset folder (relative paths are relative to the working directory).")]
    public string Root { get; set; } = "datasets/generated/quickstart";

    [Doc("coco: training annotations json, relative to root.")]
    public string TrainAnnotations { get; set; } = "annotations/instances_train.json";

    [Doc("coco: validation annotations json, relative to root.")]
    public string ValAnnotations { get; set; } = "annotations/instances_val.json";

    [Doc("coco: training images folder; image_folder: the training split folder; relative to root.")]
    public string TrainImages { get; set; } = "train";

    [Doc("coco: validation images folder; image_folder: the validation split folder; relative to root.")]
    public string ValImages { get; set; } = "val";

    [Doc("voc: training image list, relative to root; segmentation_list: the \"image label\" list (train.txt when this key is left at its VOC default).")]
    public string TrainList { get; set; } = "ImageSets/Main/train.txt";

    [Doc("voc: validation image list, relative to root; segmentation_list: the \"image label\" list (val.txt when left at its VOC default).")]
    public string ValList { get; set; } = "ImageSets/Main/val.txt";

    [Doc("voc: class names file, one per line, relative to root (the 20 VOC classes when absent); segmentation_list: the class names in label order (labels.txt when left at its default and absent).")]
    public string LabelList { get; set; } = "label_list.txt";

    [Doc("synthetic: how to generate the data when root does not hold it yet.")]
    public SyntheticSection Generate { get; set; } = new();

    [Doc("Evaluate on at most this many validation images (0 = all).")]
    [Bounds(0, int.MaxValue)]
    public int ValSubset { get; set; }

    [Doc("Train on the first this many training images only (0 = all); for quick runs.")]
    [Bounds(0, int.MaxValue)]
    public int TrainSubset { get; set; }

    [Doc("Background threads preparing batches.")]
    [Bounds(0, 64)]
    public int Workers { get; set; } = 2;

    public string? Validate() => Root.Length == 0 ? "root must name a folder" : null;
}

/// <summary>Offline generated detection data.</summary>
public sealed class SyntheticSection
{
    [Doc("Training images to generate.")]
    [Bounds(1, 1_000_000)]
    public int TrainImages { get; set; } = 400;

    [Doc("Validation images to generate.")]
    [Bounds(1, 1_000_000)]
    public int ValImages { get; set; } = 100;

    [Doc("Side of the generated images in pixels.")]
    [Bounds(32, 4096)]
    public int ImageSize { get; set; } = 160;

    [Doc("Generator seed.")]
    public long Seed { get; set; }

    [Doc("Fewest objects per image.")]
    [Bounds(0, 100)]
    public int MinObjects { get; set; } = 1;

    [Doc("Most objects per image.")]
    [Bounds(1, 100)]
    public int MaxObjects { get; set; } = 4;
}

/// <summary>Optimizers.</summary>
public enum OptimizerKind
{
    Momentum,
    Sgd,
    Adam,
    Adamw,
}

/// <summary>Learning-rate schedules.</summary>
public enum ScheduleKind
{
    Piecewise,
    Cosine,
    Constant,
    Poly,
}

/// <summary>Detection metrics.</summary>
public enum MetricKind
{
    [Key("voc")] Voc,
    [Key("voc_11point")] Voc11Point,
    [Key("coco")] Coco,
    [Key("top1")] Top1,
    [Key("miou")] MIoU,
}

/// <summary>Training settings.</summary>
public sealed class TrainSection : IValidatedRecipe
{
    [Doc("Iterations (batches) to train.")]
    [Bounds(0, int.MaxValue)]
    public int Iterations { get; set; } = 1000;

    [Doc("Images per batch.")]
    [Bounds(1, 4096)]
    public int BatchSize { get; set; } = 8;

    [Doc("momentum (SGD with momentum), sgd, adam or adamw.")]
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Momentum;

    [Doc("Base learning rate.")]
    [Bounds(0, 100)]
    public double Lr { get; set; } = 0.001;

    [Doc("Momentum of SGD.")]
    [Bounds(0, 1, MaxExclusive = true)]
    public double Momentum { get; set; } = 0.9;

    [Doc("L2 weight decay.")]
    [Bounds(0, 1)]
    public double WeightDecay { get; set; } = 0.0005;

    [Doc("piecewise (x gamma at each boundary), cosine, poly ((lr - end_lr)(1 - t/T)^power + end_lr, PaddleSeg's) or constant.")]
    public ScheduleKind Schedule { get; set; } = ScheduleKind.Piecewise;

    [Doc("piecewise: boundaries as fractions of the iterations, e.g. [0.67, 0.89].")]
    [Bounds(0, 1)]
    public List<double> Boundaries { get; set; } = new() { 0.67, 0.89 };

    [Doc("piecewise: factor applied at each boundary.")]
    [Bounds(0, 1)]
    public double Gamma { get; set; } = 0.1;

    [Doc("poly: exponent of the decay (PaddleSeg's 0.9).")]
    [Bounds(0.01, 10)]
    public double Power { get; set; } = 0.9;

    [Doc("poly: learning rate reached at the last iteration.")]
    [Bounds(0, 10)]
    public double EndLr { get; set; }

    [Doc("Linear warm-up iterations.")]
    [Bounds(0, int.MaxValue)]
    public int WarmupSteps { get; set; } = 100;

    [Doc("Learning rate factor at the start of warm-up.")]
    [Bounds(0, 1)]
    public double WarmupFactor { get; set; } = 0.1;

    [Doc("Clip the global gradient norm to this (0 = off).")]
    [Bounds(0, 1e9)]
    public double ClipGradNorm { get; set; }

    [Doc("Evaluate every this many iterations (0 = only at the end).")]
    [Bounds(0, int.MaxValue)]
    public int EvalInterval { get; set; }

    [Doc("With several processes (--nproc-per-node): batch norm normalizes with the statistics of the whole batch, " +
         "summed over the ranks at every forward (PyTorch's SyncBatchNorm, PaddleDetection's sync_bn); off, each rank's " +
         "batch norm sees its own share and the running statistics follow rank 0's. No effect in one process.")]
    public bool SyncBn { get; set; }

    [Doc("Detection: input sizes chosen at random per batch (multi-scale training); empty = input_size only.")]
    [Bounds(32, 4096)]
    public List<int> MultiScale { get; set; } = new();

    [Doc("Use PaddleDetection's YOLO augmentations (distort, expand, crop, flip).")]
    public bool Augment { get; set; } = true;

    [Doc("YOLOv3 loss: ignore threshold of objectness negatives.")]
    [Bounds(0, 1)]
    public double IgnoreThresh { get; set; } = 0.7;

    [Doc("YOLOv3 loss: label smoothing of the class targets.")]
    public bool LabelSmooth { get; set; }

    [Doc("voc (area AP@0.5), voc_11point, coco (mAP 0.5:0.95), top1 (classifiers) or miou (segmenters).")]
    public MetricKind Metric { get; set; } = MetricKind.Voc;

    public string? Validate()
    {
        for (int i = 1; i < Boundaries.Count; i++)
            if (Boundaries[i] <= Boundaries[i - 1]) return "boundaries must increase";
        return null;
    }
}

/// <summary>Settings of a fine-tune that follows a compression step (unset values come from train).</summary>
public sealed class FineTuneSection
{
    [Doc("Iterations of fine-tuning (0 = none).")]
    [Bounds(0, int.MaxValue)]
    public int Iterations { get; set; }

    [Doc("Learning rate (default: train.lr).")]
    [Bounds(0, 100)]
    public double? Lr { get; set; }

    [Doc("Warm-up iterations (default: train.warmup_steps).")]
    [Bounds(0, int.MaxValue)]
    public int? WarmupSteps { get; set; }
}
