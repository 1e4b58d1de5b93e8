using Slim.Compression.Distillation;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Distillation;

public class DistillerTests
{
    private static Tensor Images(long n, long seed, long size = 16) => randn(new long[] { n, 3, size, size }, new Generator(seed));

    /// <summary>Validates the distiller on <paramref name="x"/> and returns the loss of one step on it.</summary>
    private static DistillationLoss FirstStep(Distiller d, TinyDetector student, Tensor x)
    {
        d.Validate(x);
        using (d.Capture())
        {
            student.call(x);
            return d.Loss(x);
        }
    }

    /// <summary>The backbone features of the student (with gradients) and of the teacher (without), for recomputing a loss by hand.</summary>
    private static (Tensor student, Tensor teacher) Backbones(TinyDetector student, TinyDetector teacher, Tensor x)
    {
        var s = ((Slim.Torch.Modules.Sequential)student.get_submodule("backbone")).call(x);
        using (no_grad()) return (s, ((Slim.Torch.Modules.Sequential)teacher.get_submodule("backbone")).call(x));
    }

    private static DistillationOptions L2(params string[] pairs) => new()
    {
        Kind = DistillationKind.L2,
        Pairs = pairs.Select(FeaturePair.Parse).ToArray(),
    };

    [Fact]
    public void Constructor_FreezesTheTeacher()
    {
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(4, 2, 2);
        using var d = new Distiller(teacher, student);
        Assert.All(teacher.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(teacher.modules(), m => Assert.False(m.training));
        Assert.All(student.parameters(), p => Assert.True(p.requires_grad));
    }

    [Theory]
    [InlineData("yolo_output.3", "nearest: yolo_output.0")]
    [InlineData("yolo_ouptut.1", "nearest: yolo_output.1")]
    public void Constructor_MissingPath_NamesItAndTheNearestPaths(string path, string suggestion)
    {
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(4, 2, 2);
        var e = Assert.Throws<DistillationException>(() => new Distiller(teacher, student, L2($"yolo_output.0:{path}")));
        Assert.Contains($"the student has no module '{path}'", e.Message);
        Assert.Contains(suggestion, e.Message);
        // Nothing was frozen or hooked by the failed construction.
        Assert.All(teacher.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Validate_SpatialMismatch_NamesBothPathsAndShapes()
    {
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(4, 2, 2);
        using var d = new Distiller(teacher, student, L2("yolo_output.0:yolo_output.1"));
        using var x = Images(2, 5);
        var e = Assert.Throws<DistillationException>(() => d.Validate(x));
        Assert.Contains("teacher 'yolo_output.0' gives [2, 21, 8, 8]", e.Message);
        Assert.Contains("student 'yolo_output.1' gives [2, 21, 4, 4]", e.Message);
        Assert.Contains("spatial sizes", e.Message);
        Assert.False(d.IsValidated);
        Assert.Throws<DistillationException>(() => d.TrainableModule);
    }

    [Fact]
    public void Validate_SplitNeedsTheSameHeadLayout()
    {
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(4, 3, 2);
        using var d = new Distiller(teacher, student);
        using var x = Images(1, 5);
        var e = Assert.Throws<DistillationException>(() => d.Validate(x));
        Assert.Contains("teacher 'yolo_output.0' gives [1, 21, 8, 8]", e.Message);
        Assert.Contains("student 'yolo_output.0' gives [1, 24, 8, 8]", e.Message);
    }

    [Fact]
    public void Validate_ModulesThatDoNotRunOrReturnNoTensor_AreReported()
    {
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(8, 2, 2);
        using var x = Images(1, 5);
        using (var d = new Distiller(teacher, student, L2("spare:spare")))
            Assert.Contains("'spare' did not run", Assert.Throws<DistillationException>(() => d.Validate(x)).Message);
        using var wrappedTeacher = new Wrapper(new TinyDetector(8, 2, 3));
        using var wrappedStudent = new Wrapper(new TinyDetector(4, 2, 4));
        using (var d = new Distiller(wrappedTeacher, wrappedStudent, L2("det:det")))
            Assert.Contains("the student's module 'det' returns Tensor[], not a tensor", Assert.Throws<DistillationException>(() => d.Validate(x)).Message);
    }

    [Fact]
    public void SameModelOrSharedParameters_AreRejected()
    {
        using var model = new TinyDetector(4, 2, 1);
        Assert.Contains("same model instance", Assert.Throws<DistillationException>(() => new Distiller(model, model)).Message);
        using var other = new TinyDetector(4, 2, 2);
        other.set_parameter("spare.weight", model.get_parameter("spare.weight").alias());
        var e = Assert.Throws<DistillationException>(() => new Distiller(model, other));
        Assert.Contains("teacher parameter 'spare.weight' is the same tensor as student parameter 'spare.weight'", e.Message);
    }

    [Fact]
    public void Loss_BeforeValidateOrOutsideCapture_IsAnError()
    {
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(4, 2, 2);
        using var d = new Distiller(teacher, student);
        using var x = Images(1, 5);
        using (d.Capture())
            Assert.Contains("Validate", Assert.Throws<DistillationException>(() => d.Loss(x)).Message);
        d.Validate(x);
        Assert.Contains("inside Capture()", Assert.Throws<DistillationException>(() => d.Loss(x)).Message);
        using (d.Capture())
            Assert.Contains("did not run in this step", Assert.Throws<DistillationException>(() => d.Loss(x)).Message);
    }

    [Fact]
    public void Validate_KeepsTheStudentsModesAndBatchNormStatistics()
    {
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(4, 2, 2);
        using var d = new Distiller(teacher, student);
        student.train();
        var bn = student.get_submodule("backbone.1");
        bn.eval(); // a frozen BN inside a training student must stay frozen
        using var meanBefore = student.get_buffer("backbone.1.running_mean").clone();
        using var x = Images(2, 5);
        d.Validate(x);
        Assert.True(student.training);
        Assert.False(bn.training);
        using var same = student.get_buffer("backbone.1.running_mean").eq(meanBefore).all();
        Assert.True(same.item<bool>());
    }

    [Fact]
    public void Split_LossIsTheWeightedSumOfTheTermsOverTheThreeScales()
    {
        using var scope = NewDisposeScope();
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(4, 2, 2);
        var options = new DistillationOptions { Weight = 2, XyWeight = 0.5, WhWeight = 3, ObjWeight = 1.5, ClsWeight = 0.25 };
        using var d = new Distiller(teacher, student, options);
        var x = Images(2, 5);
        d.Validate(x);
        DistillationLoss loss;
        Tensor[] studentOut;
        using (d.Capture())
        {
            studentOut = student.call(x);
            loss = d.Loss(x);
        }
        Tensor[] teacherOut;
        using (no_grad()) teacherOut = teacher.call(x);
        double xy = 0, wh = 0, obj = 0, cls = 0;
        for (int i = 0; i < 3; i++)
        {
            var t = DistillationLosses.Split(studentOut[i], teacherOut[i], 3);
            xy += t.Xy.item<float>();
            wh += t.Wh.item<float>();
            obj += t.Obj.item<float>();
            cls += t.Cls.item<float>();
        }
        Assert.Equal(xy, loss.Parts["distill_xy"].item<float>(), 1e-5);
        Assert.Equal(wh, loss.Parts["distill_wh"].item<float>(), 1e-5);
        Assert.Equal(obj, loss.Parts["distill_obj"].item<float>(), 1e-5);
        Assert.Equal(cls, loss.Parts["distill_cls"].item<float>(), 1e-5);
        Assert.Equal(2 * (0.5 * xy + 3 * wh + 1.5 * obj + 0.25 * cls), loss.Total.item<float>(), 1e-4);
        Assert.Same(loss.Total, loss.Parts["distill"]);
    }

    [Fact]
    public void L2_PrunedStudent_GetsAnAdapterAndGradientsReachOnlyStudentAndAdapter()
    {
        using var scope = NewDisposeScope();
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(5, 2, 2); // "pruned": 5 of 8 backbone channels
        using var d = new Distiller(teacher, student, L2("backbone:backbone", "yolo_output.0:yolo_output.0"));
        var x = Images(2, 5);
        d.Validate(x);

        var adapter = d.Adapter(0)!;
        Assert.Equal(new long[] { 8, 5, 1, 1 }, adapter.get_parameter("weight").shape);
        Assert.Null(d.Adapter(1)); // head outputs have equal channels: no adapter
        Assert.Equal(2, d.ExtraParameters.Count);
        var names = d.TrainableModule.named_parameters().Select(p => p.name).ToList();
        Assert.Equal(student.named_parameters().Select(p => p.name).Concat(new[] { "distill_adapters.0.weight", "distill_adapters.0.bias" }), names);

        using (d.Capture())
        {
            student.call(x);
            var loss = d.Loss(x);
            loss.Total.backward();
        }
        Assert.All(teacher.parameters(), p => Assert.Null(p.grad));
        // Only the paired parts of the student get gradients (the other heads do not take part).
        var paired = student.named_parameters().Where(p => p.name.StartsWith("backbone.", StringComparison.Ordinal) || p.name.StartsWith("yolo_output.0.", StringComparison.Ordinal)).ToList();
        Assert.Equal(8, paired.Count);
        Assert.All(paired, p => Assert.NotNull(p.parameter.grad));
        Assert.Null(student.get_parameter("yolo_output.1.weight").grad);
        Assert.All(d.ExtraParameters, p => Assert.NotNull(p.grad));
    }

    [Fact]
    public void L2_LossEqualsTheMeanSquaredDifferenceThroughTheAdapter()
    {
        using var scope = NewDisposeScope();
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(5, 2, 2);
        using var d = new Distiller(teacher, student, L2("backbone:backbone", "yolo_output.2:yolo_output.2") with { Weight = 3 });
        var x = Images(2, 5);
        var loss = FirstStep(d, student, x);
        // Recompute by hand: the features are the backbone and third head outputs of each model.
        var (sf, tf) = Backbones(student, teacher, x);
        Tensor[] tOut;
        using (no_grad()) tOut = teacher.call(x);
        var sOut = student.call(x);
        var adapted = d.Adapter(0)!.call(sf);
        double expected = 3 * ((adapted - tf).square().mean().item<float>() + (sOut[2] - tOut[2]).square().mean().item<float>());
        Assert.Equal(expected, loss.Total.item<float>(), 1e-4);
        Assert.Single(loss.Parts);
    }

    [Fact]
    public void FitAdapters_GivesTheLeastSquaresMap_ItsResidualIsOrthogonalAndItsR2IsTheMeasuredOne()
    {
        using var scope = NewDisposeScope();
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(5, 2, 2);
        using var d = new Distiller(teacher, student, L2("backbone:backbone", "yolo_output.0:yolo_output.0"));
        var inputs = new[] { Images(2, 5), Images(3, 6) };
        d.Validate(inputs[0]);
        student.eval();
        var before = d.Adapter(0)!.get_parameter("weight").clone();
        var statistics = student.named_buffers().Select(b => b.buffer.clone()).ToList();

        var fits = d.FitAdapters(inputs, ridge: 0);

        var fit = Assert.Single(fits); // the head outputs need no adapter
        Assert.Equal((0, 5L, 8L, 2L * 8 * 8 + 3 * 8 * 8), (fit.Pair, fit.StudentChannels, fit.TeacherChannels, fit.Pixels));
        Assert.False(student.training); // the student's modes are restored
        Assert.All(student.named_buffers().Zip(statistics), b => Assert.True(b.First.buffer.equal(b.Second), b.First.name));
        Assert.False(d.Adapter(0)!.get_parameter("weight").allclose(before));
        // Independent check of optimality: the gradient of Σ‖adapter(s) − t‖² over the same pixels is zero
        // at the least-squares solution (the residual is orthogonal to every student channel and to the bias).
        // The features are the student's in train mode (batch statistics), as a training step sees them.
        student.train();
        var adapter = d.Adapter(0)!;
        var backbone = (Slim.Torch.Modules.Sequential)student.get_submodule("backbone");
        var teacherBackbone = (Slim.Torch.Modules.Sequential)teacher.get_submodule("backbone");
        Tensor? sse = null, sst = null;
        var targets = inputs.Select(x => teacherBackbone.call(x)).ToArray();
        var all = cat(targets.Select(t => t.permute(0, 2, 3, 1).reshape(-1, 8)).ToArray());
        var mean = all.mean(new long[] { 0 }, keepdim: true);
        for (int i = 0; i < inputs.Length; i++)
        {
            var r = (adapter.call(backbone.call(inputs[i]).detach()) - targets[i]).square().sum();
            sse = sse is null ? r : sse + r;
        }
        sst = (all - mean).square().sum();
        sse!.backward();
        double gradScale = adapter.get_parameter("weight").grad!.abs().max().item<float>() + adapter.get_parameter("bias").grad!.abs().max().item<float>();
        double lossScale = sse.item<float>();
        Assert.True(gradScale < 1e-4 * lossScale, $"gradient {gradScale} at the fit, loss {lossScale}");
        Assert.Equal(1 - sse.item<float>() / sst.item<float>(), fit.ExplainedVariance, 1e-4);
        Assert.InRange(fit.ExplainedVariance, 0.0, 1.0);

        // A ridge shrinks the weights (and fits no better).
        var plain = adapter.get_parameter("weight").square().sum().item<float>();
        var ridged = d.FitAdapters(inputs, ridge: 10)[0];
        Assert.True(adapter.get_parameter("weight").square().sum().item<float>() < plain);
        Assert.True(ridged.ExplainedVariance < fit.ExplainedVariance);
    }

    [Fact]
    public void FitAdapters_BeforeValidateOrWithoutInputs_IsAnError_AndWithoutAdaptersANoOp()
    {
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(5, 2, 2);
        using var x = Images(1, 5);
        using var d = new Distiller(teacher, student, L2("backbone:backbone"));
        Assert.Contains("call Validate", Assert.Throws<DistillationException>(() => d.FitAdapters(new[] { x })).Message);
        d.Validate(x);
        Assert.Contains("no input batches", Assert.Throws<DistillationException>(() => d.FitAdapters(Array.Empty<Tensor>())).Message);
        Assert.Contains("ridge", Assert.Throws<DistillationException>(() => d.FitAdapters(new[] { x }, ridge: -1)).Message);
        using var same = new TinyDetector(8, 2, 3);
        using var d2 = new Distiller(teacher, same, L2("backbone:backbone"));
        d2.Validate(x);
        Assert.Empty(d2.FitAdapters(new[] { x }));
    }

    [Fact]
    public void ValidateStepsAndDispose_DoNotLeakTensors()
    {
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(5, 2, 2);
        using var x = Images(2, 5);
        long start = Tensor.LiveCount;
        var d = new Distiller(teacher, student, L2("backbone:backbone", "yolo_output.1:yolo_output.1"));
        d.Validate(x);
        Assert.Equal(start + 2, Tensor.LiveCount); // the adapter's weight and bias
        var optimizer = new optim.SGD(d.TrainableModule.parameters(), 0.01, momentum: 0.9);
        var step = DistillationTraining.WithDistillation<Batch>(b =>
        {
            var outs = student.call(b.X);
            return new Slim.Training.LossParts(outs[0].square().mean(), new Dictionary<string, Tensor>());
        }, d, b => b.X);
        var batch = new Batch(x.alias());
        void Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var parts = step(batch);
            parts.Total.backward();
            optimizer.step();
        }
        Step(); // creates the optimizer's momentum buffers
        long live = Tensor.LiveCount;
        for (int i = 0; i < 4; i++) Step();
        Assert.Equal(live, Tensor.LiveCount);
        batch.Dispose();
        optimizer.Dispose();
        d.Dispose();
        Assert.Equal(start, Tensor.LiveCount);
    }

    private sealed class Wrapper : nn.Module<Tensor, Tensor[]>
    {
        private readonly TinyDetector _det;

        public Wrapper(TinyDetector det) : base("Wrapper")
        {
            _det = det;
            register_module("det", det);
        }

        public override Tensor[] forward(Tensor x) => _det.call(x);
    }

    [Fact]
    public void L2_WithAnObjectnessMask_WeighsEachCellByTheTeachersObjectness()
    {
        using var scope = NewDisposeScope();
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(5, 2, 2);
        var options = L2("backbone:backbone") with { Weight = 2, ObjectnessMaskFrom = new[] { "yolo_output.0" }, Anchors = TinyDetector.Anchors };
        using var d = new Distiller(teacher, student, options);
        var x = Images(2, 5);
        var loss = FirstStep(d, student, x);
        // By hand: the teacher's first head output (stride 2, as the backbone) gives per cell the highest anchor's
        // sigmoid(objectness); the loss is Σ m·(adapter(s) − t)² / (C · Σ m), times the weight.
        var (sf, tf) = Backbones(student, teacher, x);
        Tensor head;
        using (no_grad()) head = teacher.call(x)[0];
        var n = head.shape;
        var obj = head.reshape(n[0], 3, n[1] / 3, n[2], n[3]).select(2, 4).sigmoid();
        var m = obj.max(1, keepdim: true).values;
        var d2 = (d.Adapter(0)!.call(sf) - tf).square();
        double expected = 2 * (d2 * m).sum().item<float>() / (m.sum().item<float>() * tf.shape[1]);
        Assert.Equal(expected, loss.Total.item<float>(), 1e-4);
        double unmasked = 2 * d2.mean().item<float>();
        Assert.True(Math.Abs(expected - unmasked) > 1e-3 * unmasked, "the mask should change the loss");
    }

    [Fact]
    public void L2_ObjectnessMask_FromAnotherScaleOrANonHead_IsAnErrorNamingIt()
    {
        using var scope = NewDisposeScope();
        using var teacher = new TinyDetector(8, 2, 1);
        using var student = new TinyDetector(5, 2, 2);
        var x = Images(2, 5);
        using (var d = new Distiller(teacher, student, L2("backbone:backbone") with { ObjectnessMaskFrom = new[] { "yolo_output.1" } }))
        {
            var e = Assert.Throws<DistillationException>(() => d.Validate(x));
            Assert.Contains("yolo_output.1", e.Message);
            Assert.Contains("own scale", e.Message);
        }
        using (var d = new Distiller(teacher, student, L2("backbone:backbone") with { ObjectnessMaskFrom = new[] { "backbone" } }))
        {
            var e = Assert.Throws<DistillationException>(() => d.Validate(x));
            Assert.Contains("mask source 'backbone'", e.Message);
        }
        var wrongKind = Assert.Throws<DistillationException>(() => new Distiller(teacher, student, new DistillationOptions { ObjectnessMaskFrom = new[] { "yolo_output.0", "yolo_output.1", "yolo_output.2" } }));
        Assert.Contains("l2_distill", wrongKind.Message);
        var count = Assert.Throws<DistillationException>(() => new Distiller(teacher, student, L2("backbone:backbone") with { ObjectnessMaskFrom = new[] { "yolo_output.0", "yolo_output.1" } }));
        Assert.Contains("2 objectness-mask sources for 1 pairs", count.Message);
    }
}
