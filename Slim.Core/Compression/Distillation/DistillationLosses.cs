using Slim.Torch;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Compression.Distillation;

/// <summary>
/// The distillation losses as pure functions of a student and a teacher tensor. The teacher is
/// treated as a constant (it is detached here, so a caller that forgot no_grad still trains only
/// the student).
/// </summary>
public static class DistillationLosses
{
    /// <summary>
    /// mean((student − teacher)²) over every element: PaddleSlim's <c>l2_loss</c>
    /// (reduce_mean of the squared difference). Shapes must be equal.
    /// </summary>
    public static Tensor L2(Tensor student, Tensor teacher)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        if (!student.shape.SequenceEqual(teacher.shape))
            throw new DistillationException($"l2 distillation: student shape {Shape(student)} differs from teacher shape {Shape(teacher)}");
        using var scope = NewDisposeScope();
        var t = teacher.detach();
        return (student - t).square().mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The teacher's objectness as an imitation mask for one scale of a YOLO head: from its head output
    /// [N, A·(5+C), H, W], m = max over the A anchors of sigmoid(objectness logit), shaped [N, 1, H, W] (detached).
    /// It is near 1 on the cells where the teacher sees an object and near 0 on background.
    /// </summary>
    public static Tensor ObjectnessMask(Tensor teacherHead, int anchors)
    {
        ArgumentNullException.ThrowIfNull(teacherHead);
        var s = teacherHead.shape;
        if (s.Length != 4 || anchors < 1 || s[1] % anchors != 0 || s[1] / anchors < 6)
            throw new DistillationException($"objectness mask: the teacher's head output is {Shape(teacherHead)}; it must be [N, A*(5+C), H, W] with A = {anchors} and at least one class");
        using var scope = NewDisposeScope();
        var obj = teacherHead.detach().reshape(s[0], anchors, s[1] / anchors, s[2], s[3]).select(2, 4);
        return obj.sigmoid().max(1, keepdim: true).values.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// l2 distillation restricted by a mask, after fine-grained feature imitation (Wang et al., CVPR 2019, which
    /// imitates only the locations near objects, as background dominates a whole-map l2): Σ m·(s − t)² / (C · Σ m),
    /// the mean squared difference over the masked elements, so that a weight means what it means for
    /// <see cref="L2"/>. <paramref name="mask"/> is [N, 1, H, W] with values in [0, 1] (soft masks weigh each
    /// location); student and teacher are [N, C, H, W] of one shape. An all-zero mask gives 0.
    /// </summary>
    public static Tensor MaskedL2(Tensor student, Tensor teacher, Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(mask);
        var ss = student.shape;
        if (!ss.SequenceEqual(teacher.shape) || ss.Length != 4)
            throw new DistillationException($"masked l2 distillation: student {Shape(student)} and teacher {Shape(teacher)} must be [N, C, H, W] of one shape");
        var ms = mask.shape;
        if (ms.Length != 4 || ms[0] != ss[0] || ms[1] != 1 || ms[2] != ss[2] || ms[3] != ss[3])
            throw new DistillationException($"masked l2 distillation: the mask is {Shape(mask)}; it must be [{ss[0]}, 1, {ss[2]}, {ss[3]}] for features {Shape(student)}");
        using var scope = NewDisposeScope();
        var m = mask.detach();
        var sum = ((student - teacher.detach()).square() * m).sum();
        var count = m.sum() * ss[1];
        return (sum / count.clamp_min(1e-12)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Soft-label distillation of logits: T² · Σ_c p_t (log p_t − log p_s) averaged over the N rows,
    /// with p = softmax(logits / T) (KL divergence of the student's softened distribution from the
    /// teacher's, Hinton et al.). Both tensors are [N, C] of the same shape, or [N, C, H, W] per-pixel
    /// logits of a segmenter, whose KL is averaged over N·H·W pixels (pixel-wise distillation).
    /// </summary>
    public static Tensor SoftLabel(Tensor student, Tensor teacher, double temperature)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        if (student.dim() is not (2 or 4) || !student.shape.SequenceEqual(teacher.shape))
            throw new DistillationException($"soft-label distillation: student logits {Shape(student)} and teacher logits {Shape(teacher)} must both be [N, classes] (or [N, classes, H, W]) of the same shape");
        if (!(temperature > 0)) throw new DistillationException($"soft-label distillation: temperature {temperature} must be > 0");
        using var scope = NewDisposeScope();
        var logPt = (teacher.detach() / temperature).log_softmax(1);
        var logPs = (student / temperature).log_softmax(1);
        var kl = (logPt.exp() * (logPt - logPs)).sum(1).mean();
        return (kl * (temperature * temperature)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Fine-grained YOLOv3 distillation of one output scale, after PaddleDetection's
    /// <c>split_distill</c>. Both tensors are raw head outputs [N, A·(5+C), H, W]; for anchor a,
    /// channel a·(5+C)+k holds k = 0: tx, 1: ty, 2: tw, 3: th, 4: objectness, 5…: class logits.
    /// With o = sigmoid(teacher objectness) per cell and anchor, and BCE(z, p) the sigmoid
    /// cross-entropy of logit z against probability p:
    /// <list type="bullet">
    /// <item>xy = mean over N·A·H·W of o · (BCE(s_tx, σ(t_tx)) + BCE(s_ty, σ(t_ty)))</item>
    /// <item>wh = mean over N·A·H·W of o · (|s_tw − t_tw| + |s_th − t_th|)</item>
    /// <item>cls = mean over N·A·H·W·C of o · BCE(s_cls, σ(t_cls))</item>
    /// <item>obj = mean over N·A·H·W of BCE(s_obj, target), target = [t_obj &gt; 0] (PaddleDetection) or σ(t_obj)</item>
    /// </list>
    /// PaddleDetection reduces each term with reduce_mean over all its elements (not a sum over
    /// cells averaged over the batch), and its xy+wh sum is its <c>obj_weighted_reg</c>.
    /// </summary>
    public static SplitDistillTerms Split(Tensor student, Tensor teacher, int anchors, ObjectnessTarget objectnessTarget = ObjectnessTarget.TeacherMask)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        long classes = CheckHeadLayout(student, teacher, anchors);
        var s = student.shape;
        using var scope = NewDisposeScope();
        // [N, A, 5+C, H, W]: one slice per anchor's block of channels.
        var sv = student.reshape(s[0], anchors, 5 + classes, s[2], s[3]);
        var tv = teacher.detach().reshape(s[0], anchors, 5 + classes, s[2], s[3]);
        var tObjLogit = tv.select(2, 4);
        var objWeight = tObjLogit.sigmoid();

        var bceX = F.binary_cross_entropy_with_logits(sv.select(2, 0), tv.select(2, 0).sigmoid(), reduction: F.Reduction.None);
        var bceY = F.binary_cross_entropy_with_logits(sv.select(2, 1), tv.select(2, 1).sigmoid(), reduction: F.Reduction.None);
        var xy = ((bceX + bceY) * objWeight).mean();

        var l1W = (sv.select(2, 2) - tv.select(2, 2)).abs();
        var l1H = (sv.select(2, 3) - tv.select(2, 3)).abs();
        var wh = ((l1W + l1H) * objWeight).mean();

        var objTarget = objectnessTarget == ObjectnessTarget.TeacherMask ? tObjLogit.gt(0.0).to(student.dtype) : objWeight;
        var obj = F.binary_cross_entropy_with_logits(sv.select(2, 4), objTarget);

        var bceCls = F.binary_cross_entropy_with_logits(sv.narrow(2, 5, classes), tv.narrow(2, 5, classes).sigmoid(), reduction: F.Reduction.None);
        var cls = (bceCls * objWeight.unsqueeze(2)).mean();

        return new SplitDistillTerms(xy.MoveToOuterDisposeScope(), wh.MoveToOuterDisposeScope(),
            obj.MoveToOuterDisposeScope(), cls.MoveToOuterDisposeScope());
    }

    /// <summary>The class count C of a YOLO head output pair; throws when the layouts differ or do not fit A·(5+C).</summary>
    internal static long CheckHeadLayout(Tensor student, Tensor teacher, int anchors, string? studentName = null, string? teacherName = null)
    {
        string sn = studentName is null ? "student" : $"student '{studentName}'";
        string tn = teacherName is null ? "teacher" : $"teacher '{teacherName}'";
        if (anchors < 1) throw new DistillationException($"split distillation: anchors is {anchors}; it must be at least 1");
        if (student.dim() != 4 || teacher.dim() != 4)
            throw new DistillationException($"split distillation needs head outputs [N, A*(5+C), H, W]: {sn} gives {Shape(student)}, {tn} gives {Shape(teacher)}");
        if (!student.shape.SequenceEqual(teacher.shape))
            throw new DistillationException($"split distillation needs the same head layout in teacher and student: {tn} gives {Shape(teacher)}, {sn} gives {Shape(student)} (channels = anchors × (5 + classes), and equal H, W)");
        long channels = student.shape[1];
        if (channels % anchors != 0 || channels / anchors < 6)
            throw new DistillationException($"split distillation: {sn} has {channels} channels, which is not {anchors} anchors × (5 + classes) with at least one class");
        return channels / anchors - 5;
    }

    internal static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}
