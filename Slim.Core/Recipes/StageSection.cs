using Slim.Compression.Quantization;

namespace Slim.Recipes;

/// <summary>One compression stage: exactly one of prune, distill, quant.</summary>
public sealed class StageSection : IValidatedRecipe
{
    [Doc("Channel pruning.")]
    public PruneSection? Prune { get; set; }

    [Doc("Knowledge distillation from a teacher.")]
    public DistillSection? Distill { get; set; }

    [Doc("INT8 quantization.")]
    public QuantSection? Quant { get; set; }

    /// <summary>"prune", "distill" or "quant".</summary>
    public string Kind => Prune is not null ? "prune" : Distill is not null ? "distill" : "quant";

    public string? Validate()
    {
        int n = (Prune is null ? 0 : 1) + (Distill is null ? 0 : 1) + (Quant is null ? 0 : 1);
        return n == 1 ? null : "each stage must have exactly one of prune, distill, quant";
    }
}

/// <summary>Pruning criteria.</summary>
public enum PruneCriterion
{
    L1Norm,
    GeometryMedian,
    BnScale,
}

/// <summary>Channel pruning settings.</summary>
public sealed class PruneSection
{
    [Doc("l1_norm, geometry_median (FPGM) or bn_scale.")]
    public PruneCriterion Criterion { get; set; } = PruneCriterion.L1Norm;

    [Doc("Parameter names or globs of the conv weights to prune, e.g. 'yolo_block.*.conv.weights' or '*' (every conv); empty: the family's (the YOLO head for detectors, every conv for classifiers).")]
    public List<string> PrunedParams { get; set; } = new();

    [Doc("One ratio per parameter, one ratio for all, a preset (r578, sensity), or 'flops:0.3': one ratio over the parameters' groups, found so the GFLOPs drop 30%; unset: the family's (r578 for detectors, flops:0.3 for classifiers).")]
    public string? PrunedRatios { get; set; }

    [Doc("Round every pruned group's kept channels to a multiple of this (8 or 16: what int8 and SIMD kernels run " +
         "fastest), to the nearest multiple so the FLOPs change little; 1 = off. Groups of no more channels than this " +
         "keep what the ratio gives. Torch-Pruning's round_to.")]
    [Bounds(1, 1024)]
    public int Align { get; set; } = 1;

    [Doc("Run a sensitivity analysis first (and optionally choose the ratios from it).")]
    public SensitivitySection? Sensitivity { get; set; }

    [Doc("Fine-tune after pruning.")]
    public FineTuneSection FineTune { get; set; } = new();

    [Doc("Distill the fine-tune from the unpruned model (distilled channel pruning).")]
    public DistillSection? Distill { get; set; }
}

/// <summary>Sensitivity analysis settings.</summary>
public sealed class SensitivitySection
{
    [Doc("Ratios to try for each parameter.")]
    [Bounds(0, 1, MaxExclusive = true)]
    public List<double> Ratios { get; set; } = new() { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9 };

    [Doc("Validation images used per evaluation (0 = dataset.val_subset or all).")]
    [Bounds(0, int.MaxValue)]
    public int ValImages { get; set; }

    [Doc("Choose ratios reaching this FLOPs reduction (a fraction: 0.3 or 30%) with the least loss; 0 keeps pruned_ratios.")]
    [Bounds(0, 1, MaxExclusive = true), Fraction]
    public double TargetFlopsReduction { get; set; }

    [Doc("Or choose ratios cutting this much of the latency in ONNX Runtime (a fraction: 0.3 or 30%) with the least loss, weighing layers by a per-layer latency table; the ratios are applied to a copy and timed here, and the target corrected by the miss (up to 4 rounds) when the table was measured here; 0 = off.")]
    [Bounds(0, 1, MaxExclusive = true), Fraction]
    public double TargetLatencyReduction { get; set; }

    [Doc("With target_latency_reduction: a table written by 'slim latency-table MODEL --out FILE' on the target machine (from the unpruned model as this recipe exports it); unset: measured here on the unpruned model.")]
    public string? LatencyTable { get; set; }

    [Doc("With target_latency_reduction: ONNX Runtime intra-op threads of the timings here.")]
    [Bounds(1, 1024)]
    public int LatencyThreads { get; set; } = 1;

    [Doc("Or choose the largest ratios whose metric loss stays within this, absolute (0.02 or 2% = 2 pts below the unpruned model; the sensitivity table shows loss in % of it); 0 = off.")]
    [Bounds(0, 1), Fraction]
    public double MaxLoss { get; set; }
}

/// <summary>How l2_distill's 1x1 adapters start.</summary>
public enum AdapterInit
{
    Random,
    LeastSquares,
}

/// <summary>Where l2_distill imitates the teacher's features.</summary>
public enum ImitationMask
{
    None,
    TeacherObjectness,
}

/// <summary>Distillation kinds.</summary>
public enum DistillKind
{
    L2Distill,
    SplitDistill,
    SoftLabel,
}

/// <summary>Knowledge distillation settings.</summary>
public sealed class DistillSection
{
    [Doc("Teacher: 'baseline' (the model before this stage), a checkpoint path, or a model name trained first (see teacher_model). A checkpoint that records other input statistics (dataset.mean/std, e.g. a teacher from random weights for a student from pretrained ones) gets each batch renormalized to them and is scored on them.")]
    public string Teacher { get; set; } = "baseline";

    [Doc("Train this teacher architecture first when teacher is 'train' (e.g. a wider MobileNetV1 or yolov3_resnet34).")]
    public ModelSection? TeacherModel { get; set; }

    [Doc("Iterations to train the teacher when teacher is 'train' (default: train.iterations).")]
    [Bounds(0, int.MaxValue)]
    public int? TeacherIterations { get; set; }

    [Doc("l2_distill (feature maps), split_distill (fine-grained YOLO, detectors) or soft_label (KL of softened logits, classifiers; per pixel for segmenters); unset: the family's (split_distill for detectors, soft_label for classifiers and segmenters).")]
    public DistillKind? Type { get; set; }

    [Doc("soft_label: softmax temperature T; the loss is T² · KL(softmax(teacher/T) ‖ softmax(student/T)).")]
    [Bounds(0.01, 100)]
    public double Temperature { get; set; } = 4.0;

    [Doc("Overall weight of the distillation loss added to the task loss. Default: PaddleDetection's for detectors, split_distill 1000 (DistillYOLOv3Loss weight, configs/slim/distill/yolov3_mobilenet_v1_coco_distill.yml) and l2_distill 100 (the static trainer's l2_distill(pairs, 100), slim/distillation/distill.py), whose terms are means over every element as Slim's are; 1 for a classifier's or segmenter's soft_label and l2_distill. The same weights serve at smaller inputs: at 160 px, recipes/zoo-mini measured each lifting an unpruned student more than itself scaled by (160 / 608)^2 for the head's fewer cells (69 and 6.9).")]
    [Bounds(0, 1e6)]
    public double? Weight { get; set; }

    [Doc("Pairs 'teacher_path:student_path' of module paths (default: detectors split_distill the three head outputs yolo_output.*, l2_distill their inputs yolo_block.*.tip as PaddleDetection's static trainer pairs them; classifiers fc (soft_label) or pool (l2_distill); segmenters the model's output logits at the input's size, so teacher and student may differ in architecture).")]
    public List<string> Pairs { get; set; } = new();

    [Doc("l2_distill: how the 1x1 adapters that map the student's channels to the teacher's (where the counts differ, e.g. a pruned student) start: random (PyTorch's default initialization) or least_squares (first fitted as the best linear map from the student's features to the teacher's on adapter_fit_batches training batches, with a small ridge; both are then trained with the student).")]
    public AdapterInit AdapterInit { get; set; } = AdapterInit.Random;

    [Doc("l2_distill with adapter_init least_squares: training batches (of train.batch_size, not augmented) the adapters are fitted on.")]
    [Bounds(1, 10000)]
    public int AdapterFitBatches { get; set; } = 8;

    [Doc("l2_distill of a detector: none (every location of the feature maps counts alike, as PaddleDetection's static trainer) or teacher_objectness (each location counts by the teacher's objectness there, the highest of its anchors', and the loss is the mean over the locations so weighed: fine-grained feature imitation, Wang et al. 2019, with the teacher's objectness in place of the anchors' IoU with the labels). Needs the pairs at the head's three scales in order, as the default ones.")]
    public ImitationMask Mask { get; set; } = ImitationMask.None;

    [Doc("split_distill: weight of the xy term.")]
    [Bounds(0, 1e6)]
    public double XyWeight { get; set; } = 1.0;

    [Doc("split_distill: weight of the wh term.")]
    [Bounds(0, 1e6)]
    public double WhWeight { get; set; } = 1.0;

    [Doc("split_distill: weight of the objectness term.")]
    [Bounds(0, 1e6)]
    public double ObjWeight { get; set; } = 1.0;

    [Doc("split_distill: weight of the class term.")]
    [Bounds(0, 1e6)]
    public double ClsWeight { get; set; } = 1.0;

    [Doc("Training of the student (distill stage; a prune stage's distilled fine-tune uses prune.fine_tune).")]
    public FineTuneSection FineTune { get; set; } = new() { Iterations = 200 };
}

/// <summary>INT8 quantization settings.</summary>
public sealed class QuantSection
{
    [Doc("aware (quantization-aware training) or post (post-training calibration).")]
    public QuantMode Mode { get; set; } = QuantMode.Aware;

    [Doc("post: abs_max, avg, hist (percentile), kl (entropy) or mse.")]
    public CalibrationAlgo Algo { get; set; } = CalibrationAlgo.Hist;

    [Doc("post: batches of calibration data.")]
    [Bounds(1, 100000)]
    public int CalibrationBatches { get; set; } = 10;

    [Doc("hist: percentile of |x| kept.")]
    [Bounds(0.5, 1)]
    public double Percentile { get; set; } = 0.9999;

    [Doc("Module path patterns kept in float, e.g. [res_conv1, se_block].")]
    public List<string> NotQuant { get; set; } = new();

    [Doc("Also quantize the output layers (a detector's three output convs, a segmenter's classifier conv).")]
    public bool QuantOutput { get; set; }

    [Doc("Weight bits: 7 (codes -63..63; exact in ONNX Runtime on every x86 CPU, whose int8 kernels without VNNI add uint8×int8 products in saturating 16 bits, ONNX Runtime's reduce_range) or 8 (full int8, for VNNI and ARM targets).")]
    [Bounds(7, 8)]
    public int WeightBits { get; set; } = 7;

    [Doc("aware: fraction of fine-tuning after which BN statistics freeze.")]
    [Bounds(0, 1)]
    public double FreezeBnAt { get; set; } = 0.5;

    [Doc("aware: quantization-aware fine-tuning.")]
    public FineTuneSection FineTune { get; set; } = new() { Iterations = 200 };
}

/// <summary>Export settings.</summary>
public sealed class ExportSection
{
    [Doc("Write the FP32 ONNX model (BN folded).")]
    public bool Fp32 { get; set; } = true;

    [Doc("Write the INT8 QDQ ONNX model (needs a quant stage).")]
    public bool Int8 { get; set; } = true;

    [Doc("Put box decoding and NMS inside the graph (inputs images and scale_factor; outputs num_detections, detection_boxes, detection_scores, detection_classes).")]
    public bool Postprocess { get; set; }

    [Doc("Segmentation: output the per-pixel logits [N, classes, H, W] (output logits) instead of the class ids [N, H, W] (output class_ids).")]
    public bool Logits { get; set; }

    [Doc("postprocess: decoding and suppression settings baked into the graph.")]
    public NmsSection Nms { get; set; } = new();
}

/// <summary>In-graph post-processing settings (PaddleDetection's YOLOBox and MultiClassNMS; defaults of its YOLOv3 configs, as evaluation uses).</summary>
public sealed class NmsSection : IValidatedRecipe
{
    [Doc("Cells with objectness below this give no box.")]
    [Bounds(0, 0.999)]
    public double ConfThreshold { get; set; } = 0.005;

    [Doc("Detections need a score (objectness × class probability) above this.")]
    [Bounds(0, 0.999)]
    public double ScoreThreshold { get; set; } = 0.01;

    [Doc("A box overlapping a better box of its class by more IoU than this is suppressed.")]
    [Bounds(0.01, 1)]
    public double NmsThreshold { get; set; } = 0.45;

    [Doc("Best candidates per class entering the suppression; -1 keeps all.")]
    [Bounds(-1, 100000)]
    public int NmsTopK { get; set; } = 1000;

    [Doc("Detections per image kept after suppression (the outputs' second dimension); -1 keeps all.")]
    [Bounds(-1, 100000)]
    public int KeepTopK { get; set; } = 100;

    public string? Validate() =>
        NmsTopK == 0 ? "nms_top_k must be positive or -1 (all candidates), got 0"
        : KeepTopK == 0 ? "keep_top_k must be positive or -1 (all detections), got 0"
        : null;

    /// <summary>These settings as the decoder's options for a head of <paramref name="geometry"/>.</summary>
    public Slim.Detection.YoloBoxDecoderOptions ToDecoderOptions(Slim.Detection.YoloGeometry geometry) => new()
    {
        Geometry = geometry,
        ConfidenceThreshold = ConfThreshold,
        Nms = new Slim.Detection.NmsOptions { ScoreThreshold = ScoreThreshold, NmsThreshold = NmsThreshold, NmsTopK = NmsTopK, KeepTopK = KeepTopK },
    };
}

/// <summary>Verification settings.</summary>
public sealed class VerifySection
{
    [Doc("Run the verification after export.")]
    public bool Enabled { get; set; } = true;

    [Doc("The AP to compare with and the largest drop accepted.")]
    public BaselineSection Baseline { get; set; } = new();

    [Doc("ONNX Runtime intra-op threads for AP and latency.")]
    [Bounds(1, 256)]
    public int Threads { get; set; } = 1;

    [Doc("Timed latency runs (median reported).")]
    [Bounds(1, 100000)]
    public int LatencyRuns { get; set; } = 20;

    [Doc("Untimed warm-up runs before timing.")]
    [Bounds(0, 100000)]
    public int WarmupRuns { get; set; } = 3;

    [Doc("Fail the verification when a quantized layer of the INT8 model runs in float in ONNX Runtime (see the deployability report of export and verify).")]
    public bool RequireInt8 { get; set; }
}

/// <summary>The reference accuracy.</summary>
public sealed class BaselineSection
{
    [Doc("Baseline AP or top-1 (a fraction: 0.55 or 55%); empty uses the score of the trained baseline in this run.")]
    [Bounds(0, 1), Fraction]
    public double? Ap { get; set; }

    [Doc("Largest accepted drop of the exported model below the baseline, absolute (0.05 or 5% = 5 pts).")]
    [Bounds(0, 1), Fraction]
    public double MaxDrop { get; set; } = 0.05;

    [Doc("When the INT8 model drops more than max_drop: fail (the run fails with the verdict) or fallback (rank the " +
         "quantized layers by what each costs alone, as slim quant-analysis does, and keep the most costly in float, " +
         "one more at a time, until the INT8 model passes in ONNX Runtime; if none passes, the best one found is kept " +
         "and the run fails saying so). fallback also repairs a prune stage whose fine-tuned model drops more than " +
         "max_drop: the ratios of the most sensitive groups are halved and the model pruned and fine-tuned again.")]
    public OnFail OnFail { get; set; } = OnFail.Fail;

    [Doc("on_fail: fallback: the most layers kept in float before giving up.")]
    [Bounds(1, 10000)]
    public int MaxFallbackLayers { get; set; } = 10;

    [Doc("on_fail: fallback: prune stages' tries after the asked ratios (each halves the ratios of the most sensitive quarter of the pruned groups and fine-tunes again).")]
    [Bounds(0, 100)]
    public int MaxPruneTries { get; set; } = 3;
}

/// <summary>What verification does when the INT8 model loses too much.</summary>
public enum OnFail
{
    Fail,
    Fallback,
}
