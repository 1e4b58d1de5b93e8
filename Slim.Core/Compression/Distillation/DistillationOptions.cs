using System.Globalization;

namespace Slim.Compression.Distillation;

/// <summary>Which distillation loss a <see cref="Distiller"/> computes.</summary>
public enum DistillationKind
{
    /// <summary>Mean squared difference of paired feature maps (PaddleSlim's <c>l2_loss</c>), with a 1x1 adapter where channel counts differ.</summary>
    L2,

    /// <summary>Fine-grained YOLOv3 distillation of the head outputs split into xy, wh, objectness and class parts (PaddleDetection's <c>split_distill</c>).</summary>
    Split,

    /// <summary>
    /// Soft-label distillation of logits [N, C] (Hinton et al. 2015): T² · KL(softmax(t/T) ‖ softmax(s/T)),
    /// averaged over the batch; the T² keeps the gradient scale independent of the temperature.
    /// </summary>
    SoftLabel,
}

/// <summary>What the student's objectness logit is trained towards in <see cref="DistillationKind.Split"/>.</summary>
public enum ObjectnessTarget
{
    /// <summary>1 where the teacher's objectness logit is above 0 (sigmoid above 0.5), else 0: PaddleDetection's <c>obj_loss</c>.</summary>
    TeacherMask,

    /// <summary>The teacher's sigmoid(objectness) as a soft target.</summary>
    TeacherProbability,
}

/// <summary>
/// The settings of one distillation run. Defaults follow PaddleDetection's YOLOv3 distillation
/// except the overall weight, which the recipe sets (PaddleDetection uses 100 for l2 and 1000
/// for split because its losses are means over every element of the head outputs).
/// </summary>
public sealed record DistillationOptions
{
    /// <summary>The loss: <see cref="DistillationKind.L2"/> on feature maps or <see cref="DistillationKind.Split"/> on YOLO head outputs.</summary>
    public DistillationKind Kind { get; init; } = DistillationKind.Split;

    /// <summary>Weight of the whole distillation loss added to the task loss.</summary>
    public double Weight { get; init; } = 1.0;

    /// <summary>Feature pairs; for split each pair is one output scale of the head. Default: <see cref="FeaturePair.YoloOutputs"/>.</summary>
    public IReadOnlyList<FeaturePair> Pairs { get; init; } = FeaturePair.YoloOutputs;

    /// <summary>Soft-label: the softmax temperature T (&gt; 0); higher spreads the teacher's probabilities.</summary>
    public double Temperature { get; init; } = 4.0;

    /// <summary>Anchors per output scale (split only): channels are laid out as anchors × (5 + classes).</summary>
    public int Anchors { get; init; } = 3;

    /// <summary>Split: weight of the xy term (sigmoid cross-entropy of tx, ty).</summary>
    public double XyWeight { get; init; } = 1.0;

    /// <summary>Split: weight of the wh term (L1 of tw, th).</summary>
    public double WhWeight { get; init; } = 1.0;

    /// <summary>Split: weight of the objectness term.</summary>
    public double ObjWeight { get; init; } = 1.0;

    /// <summary>Split: weight of the class term.</summary>
    public double ClsWeight { get; init; } = 1.0;

    /// <summary>Split: the objectness target (PaddleDetection's hard teacher mask by default).</summary>
    public ObjectnessTarget ObjectnessTarget { get; init; } = ObjectnessTarget.TeacherMask;

    /// <summary>
    /// L2 only: for each pair, the teacher module whose output is the YOLO head output at that pair's scale
    /// ([N, A·(5+C), H, W], A = <see cref="Anchors"/>); the pair's l2 then counts each location by the teacher's
    /// objectness there (<see cref="DistillationLosses.MaskedL2"/>). Null: every location counts alike.
    /// </summary>
    public IReadOnlyList<string>? ObjectnessMaskFrom { get; init; }

    /// <summary>Throws a <see cref="DistillationException"/> naming the first invalid setting.</summary>
    public void Check()
    {
        CheckWeight(nameof(Weight), Weight);
        CheckWeight(nameof(XyWeight), XyWeight);
        CheckWeight(nameof(WhWeight), WhWeight);
        CheckWeight(nameof(ObjWeight), ObjWeight);
        CheckWeight(nameof(ClsWeight), ClsWeight);
        if (!Enum.IsDefined(Kind)) throw new DistillationException($"distillation: unknown kind {Kind}; use L2, Split or SoftLabel");
        if (!(double.IsFinite(Temperature) && Temperature > 0))
            throw new DistillationException($"distillation: temperature is {Temperature.ToString(CultureInfo.InvariantCulture)}; it must be a finite number > 0 (e.g. 4)");
        if (!Enum.IsDefined(ObjectnessTarget)) throw new DistillationException($"distillation: unknown objectness target {ObjectnessTarget}");
        if (Anchors < 1) throw new DistillationException($"distillation: anchors is {Anchors}; it must be at least 1 (YOLOv3 uses 3 per scale)");
        if (Pairs is null || Pairs.Count == 0) throw new DistillationException("distillation: no feature pairs; give at least one 'teacher_path:student_path' (default: yolo_output.0/1/2)");
        foreach (var p in Pairs)
            if (p is null || (p != FeaturePair.ModelOutput && (string.IsNullOrWhiteSpace(p.Teacher) || string.IsNullOrWhiteSpace(p.Student))))
                throw new DistillationException($"distillation: pair '{p}' has an empty module path");
        var dup = Pairs.GroupBy(p => p).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new DistillationException($"distillation: pair '{dup.Key}' is listed twice");
        if (ObjectnessMaskFrom is { } masks)
        {
            if (Kind != DistillationKind.L2)
                throw new DistillationException($"distillation: an objectness mask weighs l2_distill's feature maps; this run distils with {Kind}");
            if (masks.Count != Pairs.Count)
                throw new DistillationException($"distillation: {masks.Count} objectness-mask sources for {Pairs.Count} pairs; give one teacher head output per pair");
            if (masks.Any(string.IsNullOrWhiteSpace))
                throw new DistillationException("distillation: an objectness-mask source has an empty module path");
        }
    }

    private static void CheckWeight(string name, double value)
    {
        if (!double.IsFinite(value) || value < 0)
            throw new DistillationException($"distillation: {name} is {value.ToString(CultureInfo.InvariantCulture)}; it must be a finite number ≥ 0");
    }
}
