using Slim.Compression.Distillation;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Distillation;

public class DistillationLossesTests
{
    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    // Sigmoid cross-entropy of logit z against probability p, written out independently of libtorch.
    private static double Bce(double z, double p) => -(p * Math.Log(Sigmoid(z)) + (1 - p) * Math.Log(1 - Sigmoid(z)));

    private static Tensor Head(double[] values, long anchors, long h, long w) =>
        tensor(values.Select(v => (float)v).ToArray(), 1, values.Length / (h * w), h, w);

    [Fact]
    public void L2_IsTheMeanOfSquaredDifferences()
    {
        using var scope = NewDisposeScope();
        var s = tensor(new float[] { 1, 2, 3, 4 }, 1, 1, 2, 2);
        var t = tensor(new float[] { 0, 2, 5, 4 }, 1, 1, 2, 2);
        Assert.Equal((1.0 + 0 + 4 + 0) / 4, DistillationLosses.L2(s, t).item<float>(), 1e-6);
    }

    [Fact]
    public void L2_RejectsDifferentShapes()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<DistillationException>(() => DistillationLosses.L2(zeros(1, 2, 2, 2), zeros(1, 3, 2, 2)));
        Assert.Contains("[1, 2, 2, 2]", e.Message);
        Assert.Contains("[1, 3, 2, 2]", e.Message);
    }

    // 1 image, 1 anchor, 1x1 grid, 2 classes: channels tx, ty, tw, th, obj, c0, c1.
    private static readonly double[] Student1 = { 0.3, -1.2, 0.5, -0.4, -0.7, 1.5, -2.0 };
    private static readonly double[] Teacher1 = { -0.8, 0.6, 0.1, 0.9, 1.3, -0.5, 2.5 };

    [Fact]
    public void Split_OneCellOneAnchor_MatchesHandComputedTerms()
    {
        using var scope = NewDisposeScope();
        var terms = DistillationLosses.Split(Head(Student1, 1, 1, 1), Head(Teacher1, 1, 1, 1), anchors: 1);
        double o = Sigmoid(Teacher1[4]);
        double xy = o * (Bce(Student1[0], Sigmoid(Teacher1[0])) + Bce(Student1[1], Sigmoid(Teacher1[1])));
        double wh = o * (Math.Abs(Student1[2] - Teacher1[2]) + Math.Abs(Student1[3] - Teacher1[3]));
        double obj = Bce(Student1[4], 1.0); // teacher logit 1.3 > 0: PaddleDetection's hard mask is 1
        double cls = o * (Bce(Student1[5], Sigmoid(Teacher1[5])) + Bce(Student1[6], Sigmoid(Teacher1[6]))) / 2;
        Assert.Equal(xy, terms.Xy.item<float>(), 1e-5);
        Assert.Equal(wh, terms.Wh.item<float>(), 1e-5);
        Assert.Equal(obj, terms.Obj.item<float>(), 1e-5);
        Assert.Equal(cls, terms.Cls.item<float>(), 1e-5);
    }

    [Fact]
    public void TheDetectorsDefaultSplitDistillationWeighsTheLossAsPaddleDetectionsDistillYoloV3Loss()
    {
        // PaddleDetection (ppdet/slim/distill_loss.py): loss = weight · (obj_weighted_reg + obj_weighted_cls + obj_loss) with
        // weight 1000, reg = mean((bce_x + bce_y + |Δw| + |Δh|) · σ(t_obj)), cls = mean(bce_cls · σ(t_obj)) over classes too,
        // obj = mean(bce(s_obj, [t_obj > 0])). Written out by hand for one cell, one anchor, two classes.
        var section = new Slim.Recipes.DistillSection();
        var options = Slim.Tasks.Detection.DetectionFamily.Instance.Distillation(section, new Slim.Models.ModelOptions());
        Assert.Equal(DistillationKind.Split, options.Kind);
        Assert.Equal(FeaturePair.YoloOutputs, options.Pairs);
        double o = Sigmoid(Teacher1[4]);
        double reg = o * (Bce(Student1[0], Sigmoid(Teacher1[0])) + Bce(Student1[1], Sigmoid(Teacher1[1]))
                          + Math.Abs(Student1[2] - Teacher1[2]) + Math.Abs(Student1[3] - Teacher1[3]));
        double cls = o * (Bce(Student1[5], Sigmoid(Teacher1[5])) + Bce(Student1[6], Sigmoid(Teacher1[6]))) / 2;
        double obj = Bce(Student1[4], 1.0);
        double paddle = 1000 * (reg + cls + obj);

        using var scope = NewDisposeScope();
        var t = DistillationLosses.Split(Head(Student1, 1, 1, 1), Head(Teacher1, 1, 1, 1), anchors: 1);
        double slim = options.Weight * (options.XyWeight * t.Xy.item<float>() + options.WhWeight * t.Wh.item<float>()
                                        + options.ObjWeight * t.Obj.item<float>() + options.ClsWeight * t.Cls.item<float>());
        Assert.Equal(paddle, slim, 1e-2); // about 5e3 in all, from float32 terms

        // l2_distill: PaddleDetection's static trainer weighs l2_distill(pairs, 100) on the inputs of the output convs.
        var l2 = Slim.Tasks.Detection.DetectionFamily.Instance.Distillation(new Slim.Recipes.DistillSection { Type = Slim.Recipes.DistillKind.L2Distill }, new Slim.Models.ModelOptions());
        Assert.Equal(100, l2.Weight);
        Assert.Equal(new[] { "yolo_block.0.tip:yolo_block.0.tip", "yolo_block.1.tip:yolo_block.1.tip", "yolo_block.2.tip:yolo_block.2.tip" }, l2.Pairs.Select(p => p.ToString()));
        // A recipe's own weight wins; a classifier's soft labels keep 1.
        Assert.Equal(2.5, Slim.Tasks.Detection.DetectionFamily.Instance.Distillation(new Slim.Recipes.DistillSection { Weight = 2.5 }, new Slim.Models.ModelOptions()).Weight);
        Assert.Equal(1, Slim.Tasks.Classification.ClassificationFamily.Instance.Distillation(new Slim.Recipes.DistillSection(), new Slim.Models.ModelOptions()).Weight);
    }

    [Fact]
    public void Split_SoftObjectnessTarget_UsesTheTeachersProbability()
    {
        using var scope = NewDisposeScope();
        var teacher = (double[])Teacher1.Clone();
        teacher[4] = -0.6; // below 0: the hard mask would be 0, the soft target is 0.354
        var hard = DistillationLosses.Split(Head(Student1, 1, 1, 1), Head(teacher, 1, 1, 1), 1, ObjectnessTarget.TeacherMask);
        var soft = DistillationLosses.Split(Head(Student1, 1, 1, 1), Head(teacher, 1, 1, 1), 1, ObjectnessTarget.TeacherProbability);
        Assert.Equal(Bce(Student1[4], 0.0), hard.Obj.item<float>(), 1e-5);
        Assert.Equal(Bce(Student1[4], Sigmoid(-0.6)), soft.Obj.item<float>(), 1e-5);
    }

    [Fact]
    public void Split_BackgroundCellsOfTheTeacherContributeNothingToXyWhCls()
    {
        using var scope = NewDisposeScope();
        // 2x2 grid, 1 anchor, 2 classes; only cell (0, 0) is an object for the teacher.
        var teacher = randn(new long[] { 1, 7, 2, 2 }, new Generator(3));
        teacher.narrow(1, 4, 1).copy_(tensor(new float[] { 8, -30, -30, -30 }, 1, 1, 2, 2));
        var student = randn(new long[] { 1, 7, 2, 2 }, new Generator(4));
        var baseTerms = DistillationLosses.Split(student, teacher, 1);

        // Change the student wildly in the background cells: xy, wh and cls must not move.
        var background = tensor(Enumerable.Range(0, 28).Select(i => i % 4 == 0 ? 0f : 1f).ToArray(), 1, 7, 2, 2);
        var moved = DistillationLosses.Split(student + background * 50, teacher, 1);
        Assert.Equal(baseTerms.Xy.item<float>(), moved.Xy.item<float>(), 1e-6);
        Assert.Equal(baseTerms.Wh.item<float>(), moved.Wh.item<float>(), 1e-6);
        Assert.Equal(baseTerms.Cls.item<float>(), moved.Cls.item<float>(), 1e-6);
        Assert.NotEqual(baseTerms.Obj.item<float>(), moved.Obj.item<float>());

        // The same change in the object cell does move them.
        var foreground = ones(1, 7, 2, 2) - background;
        var movedObject = DistillationLosses.Split(student + foreground * 5, teacher, 1);
        Assert.True(Math.Abs(movedObject.Wh.item<float>() - baseTerms.Wh.item<float>()) > 1);
    }

    [Fact]
    public void Split_ReadsEachAnchorsBlockOfChannels()
    {
        using var scope = NewDisposeScope();
        // 3 anchors, 2 classes → 21 channels; anchor a's tw is channel a*7 + 2. Only anchor 1 is an object.
        var t = new double[21];
        var s = new double[21];
        for (int a = 0; a < 3; a++) t[a * 7 + 4] = a == 1 ? 2.0 : -40;
        s[0 * 7 + 2] = 3.0; // anchor 0 tw off by 3: background, ignored
        s[1 * 7 + 2] = 0.5; // anchor 1 tw off by 0.5: counted
        s[2 * 7 + 3] = -7;  // anchor 2 th off by 7: background, ignored
        var terms = DistillationLosses.Split(Head(s, 3, 1, 1), Head(t, 3, 1, 1), anchors: 3);
        Assert.Equal(Sigmoid(2.0) * 0.5 / 3, terms.Wh.item<float>(), 1e-5);
    }

    [Fact]
    public void Split_GradientsOfTheStudentMatchTheFormulas()
    {
        using var scope = NewDisposeScope();
        var student = Head(Student1, 1, 1, 1).requires_grad_();
        var teacher = Head(Teacher1, 1, 1, 1);
        var terms = DistillationLosses.Split(student, teacher, 1);
        (terms.Xy + terms.Wh + terms.Obj + terms.Cls).backward();
        var g = student.grad!.data<float>();
        double o = Sigmoid(Teacher1[4]);
        // d/dz BCE(z, p) = σ(z) − p; d/dz |z − t| = sign(z − t).
        Assert.Equal(o * (Sigmoid(Student1[0]) - Sigmoid(Teacher1[0])), g[0], 1e-5);
        Assert.Equal(o * (Sigmoid(Student1[1]) - Sigmoid(Teacher1[1])), g[1], 1e-5);
        Assert.Equal(o * Math.Sign(Student1[2] - Teacher1[2]), g[2], 1e-5);
        Assert.Equal(o * Math.Sign(Student1[3] - Teacher1[3]), g[3], 1e-5);
        Assert.Equal(Sigmoid(Student1[4]) - 1.0, g[4], 1e-5);
        Assert.Equal(o * (Sigmoid(Student1[5]) - Sigmoid(Teacher1[5])) / 2, g[5], 1e-5);
        Assert.Equal(o * (Sigmoid(Student1[6]) - Sigmoid(Teacher1[6])) / 2, g[6], 1e-5);
        Assert.Null(teacher.grad);
    }

    [Theory]
    [InlineData(new long[] { 1, 21, 2, 2 }, new long[] { 1, 24, 2, 2 }, 3, "same head layout")]
    [InlineData(new long[] { 1, 20, 2, 2 }, new long[] { 1, 20, 2, 2 }, 3, "20 channels")]
    [InlineData(new long[] { 1, 15, 2, 2 }, new long[] { 1, 15, 2, 2 }, 3, "at least one class")]
    [InlineData(new long[] { 1, 21, 4 }, new long[] { 1, 21, 4 }, 3, "[N, A*(5+C), H, W]")]
    public void Split_RejectsLayoutsThatAreNotYoloHeads(long[] studentShape, long[] teacherShape, int anchors, string expected)
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<DistillationException>(() => DistillationLosses.Split(zeros(studentShape), zeros(teacherShape), anchors));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ObjectnessMask_IsTheHighestAnchorsSigmoidObjectnessPerCell()
    {
        using var scope = NewDisposeScope();
        // 2 anchors, 1 class (6 channels each), a 1x2 grid: objectness logits at channels 4 and 10.
        var values = new double[12 * 2];
        double[] obj0 = { -1.0, 2.0 }, obj1 = { 0.5, -3.0 };
        for (int c = 0; c < 2; c++) { values[4 * 2 + c] = obj0[c]; values[10 * 2 + c] = obj1[c]; values[5 * 2 + c] = 9; }
        var mask = DistillationLosses.ObjectnessMask(tensor(values.Select(v => (float)v).ToArray(), 1, 12, 1, 2), anchors: 2);
        Assert.Equal(new long[] { 1, 1, 1, 2 }, mask.shape);
        var m = mask.data<float>();
        Assert.Equal(Sigmoid(0.5), m[0], 1e-6);   // cell 0: anchor 1's 0.5 beats anchor 0's −1 (the class logit 9 is not objectness)
        Assert.Equal(Sigmoid(2.0), m[1], 1e-6);   // cell 1: anchor 0's 2
        var e = Assert.Throws<DistillationException>(() => DistillationLosses.ObjectnessMask(zeros(1, 13, 1, 2), anchors: 2));
        Assert.Contains("[1, 13, 1, 2]", e.Message);
    }

    [Fact]
    public void MaskedL2_IsTheMeanSquaredDifferenceOverTheMaskedElements()
    {
        using var scope = NewDisposeScope();
        // 2 channels on a 1x2 grid; the mask counts cell 0 fully and cell 1 by a quarter.
        var s = tensor(new float[] { 1, 2, 3, 4 }, 1, 2, 1, 2);
        var t = tensor(new float[] { 0, 0, 1, 1 }, 1, 2, 1, 2);
        var m = tensor(new float[] { 1, 0.25f }, 1, 1, 1, 2);
        // Cell 0: (1−0)² + (3−1)² = 5; cell 1: (2−0)² + (4−1)² = 13. Σ m·d² = 5 + 13/4 = 8.25 over C·Σm = 2·1.25 = 2.5.
        Assert.Equal(8.25 / 2.5, DistillationLosses.MaskedL2(s, t, m).item<float>(), 1e-6);
        // A mask of ones is the plain mean; an empty mask gives 0, not NaN.
        Assert.Equal(DistillationLosses.L2(s, t).item<float>(), DistillationLosses.MaskedL2(s, t, ones(1, 1, 1, 2)).item<float>(), 1e-6);
        Assert.Equal(0f, DistillationLosses.MaskedL2(s, t, zeros(1, 1, 1, 2)).item<float>());
        var e = Assert.Throws<DistillationException>(() => DistillationLosses.MaskedL2(s, t, ones(1, 1, 2, 1)));
        Assert.Contains("[1, 1, 1, 2]", e.Message);
    }
}
