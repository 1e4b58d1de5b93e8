using Slim.Compression.Distillation;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Pipeline;

public class DistillStageTests(TinyStageFixture fx) : IClassFixture<TinyStageFixture>
{
    private static DistillSection Split(int iterations = 10) => new()
    {
        Type = DistillKind.SplitDistill,
        Weight = 1,
        FineTune = new FineTuneSection { Iterations = iterations, Lr = 0.002, WarmupSteps = 0 },
    };

    // The unweighted split-distillation loss of the student against the teacher on fixed validation images.
    private static double SplitLoss(DetectionTask task, YoloV3Like teacher, YoloV3Like student)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = task.SampleInput();
        var t = teacher(x);
        var s = student(x);
        double sum = 0;
        for (int i = 0; i < 3; i++)
        {
            var terms = DistillationLosses.Split(s[i], t[i], 3);
            sum += (terms.Xy + terms.Wh + terms.Obj + terms.Cls).item<float>();
        }
        return sum;
    }

    private delegate Tensor[] YoloV3Like(Tensor x);

    [Fact]
    public void SplitDistillTrainsTheStudentAndLeavesTheTeacherAlone()
    {
        // Student: the untrained initialisation; teacher: the trained baseline. The same student is
        // also trained on the same batches with the distillation weight 0, as the control.
        var studentPath = fx.SaveFresh("student-init.ckpt", "yolov3_mobilenet_v1", 0.25);
        var (student, arch, options) = TestCheckpoints.Load(studentPath);
        var (control, _, _) = TestCheckpoints.Load(studentPath);
        var (teacher, _, _) = TestCheckpoints.Load(fx.Baseline);
        using (student)
        using (control)
        using (teacher)
        {
            var teacherBefore = teacher.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            var studentBefore = student.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

            var section = Split(12);
            section.Weight = 10;
            var outcome = DistillStage.Distill(fx.Context("split"), student, arch, options, teacher, "baseline", fx.BaselineAp, section);
            section.Weight = 0;
            DistillStage.Distill(fx.Context("split-control"), control, arch, options, teacher, "baseline", fx.BaselineAp, section);

            foreach (var (name, t) in teacher.state_dict()) Assert.True(t.equal(teacherBefore[name]), $"teacher {name} changed");
            Assert.All(teacher.parameters(), p => Assert.False(p.requires_grad));
            Assert.False(teacher.training);
            Assert.Contains(student.state_dict(), kv => !kv.Value.equal(studentBefore[kv.Key]));
            double distilled = SplitLoss(fx.Task, teacher.call, student.call);
            double undistilled = SplitLoss(fx.Task, teacher.call, control.call);
            Assert.True(distilled < undistilled, $"split-distill loss with distillation {distilled}, without {undistilled}");

            Assert.Equal("distill", outcome.Stage);
            Assert.Equal("split_distill from baseline, 12 it", outcome.Detail);
            Assert.Equal(fx.BaselineAp, outcome.Extra["teacher_ap"]);
            Assert.Equal(outcome.Ap, outcome.Extra["ap_after"]);
            var (reloaded, reloadedArch, reloadedOptions) = TestCheckpoints.Load(outcome.Checkpoint);
            using (reloaded)
            {
                Assert.Equal(arch, reloadedArch);
                Assert.Equal(options, reloadedOptions);
                foreach (var (name, t) in student.state_dict()) Assert.True(t.equal(reloaded.state_dict()[name]), $"{name} differs after reload");
            }
            foreach (var t in teacherBefore.Values.Concat(studentBefore.Values)) t.Dispose();
        }
    }

    [Fact]
    public void L2FromAWiderTeacherSavesAStudentWithoutAdapters()
    {
        // Width 0.5 vs 0.25: the tips differ in channels, so the distiller adds 1x1 adapters.
        var teacher = fx.SaveFresh("teacher-wide.ckpt", "yolov3_mobilenet_v1", 0.5);
        var section = new DistillSection
        {
            Teacher = teacher,
            Type = DistillKind.L2Distill,
            Pairs = new List<string> { "yolo_block.0.tip", "yolo_block.1.tip" },
            FineTune = new FineTuneSection { Iterations = 3 },
        };
        var ctx = fx.Context("l2-wide");
        var outcome = DistillStage.Run(ctx, new StageInput(fx.Baseline, fx.Baseline, fx.BaselineAp), section);
        var last = Checkpoint.Load(Path.Combine(ctx.StageDir, Trainer.LastName));
        Assert.Contains(last.tensors.Keys, k => k.StartsWith("model." + Distiller.AdapterModuleName + ".", StringComparison.Ordinal));
        foreach (var t in last.tensors.Values) t.Dispose();
        var (student, _, options) = TestCheckpoints.Load(outcome.Checkpoint);
        using (student) Assert.Equal(0.25, options.Width);
        Assert.Equal("l2_distill from teacher-wide.ckpt, 3 it", outcome.Detail);
    }

    /// <summary>Runs a one-step distill stage from the baseline and returns its first step's loss (history.json).</summary>
    private double FirstStepLoss(string name, DistillSection section, List<string> lines)
    {
        var ctx = fx.Context(name, lines);
        DistillStage.Run(ctx, new StageInput(fx.Baseline, fx.Baseline, fx.BaselineAp), section);
        using var history = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(ctx.StageDir, "history.json")));
        return history.RootElement.GetProperty("loss")[0].GetDouble();
    }

    [Fact]
    public void AnObjectnessMaskWeighsL2ByTheTeachersHeadAtEachScale()
    {
        // The recipe's mask reaches the distiller: the stage names the head outputs it weighs by, and the first step's
        // loss differs from the same run over the whole maps (same student, teacher, batch and adapters).
        var teacher = fx.SaveFresh("teacher-wide-mask.ckpt", "yolov3_mobilenet_v1", 0.5);
        DistillSection Section(ImitationMask mask) => new()
        {
            Teacher = teacher,
            Type = DistillKind.L2Distill,
            Mask = mask,
            FineTune = new FineTuneSection { Iterations = 1 },
        };
        var maskedLines = new List<string>();
        double masked = FirstStepLoss("l2-mask", Section(ImitationMask.TeacherObjectness), maskedLines);
        double whole = FirstStepLoss("l2-whole", Section(ImitationMask.None), new List<string>());
        Assert.Contains(maskedLines, l => l.StartsWith("distill: l2_distill × 100", StringComparison.Ordinal)
            && l.EndsWith("each location weighed by the teacher's objectness (yolo_output.0, yolo_output.1, yolo_output.2)", StringComparison.Ordinal));
        Assert.True(double.IsFinite(masked) && Math.Abs(masked - whole) > 1e-6 * whole, $"first-step loss masked {masked}, whole maps {whole}");
    }

    [Fact]
    public void LeastSquaresAdaptersStartTheL2TermBelowRandomOnes()
    {
        // The same student, wider teacher and first batch: the first step's loss (history.json) is the task loss,
        // the same in both runs, plus the starting l2 term, which the fitted adapters must start below random ones.
        var teacher = fx.SaveFresh("teacher-wide-ls.ckpt", "yolov3_mobilenet_v1", 0.5);
        DistillSection Section(AdapterInit init) => new()
        {
            Teacher = teacher,
            Type = DistillKind.L2Distill,
            Weight = 1,
            AdapterInit = init,
            AdapterFitBatches = 8,
            FineTune = new FineTuneSection { Iterations = 1 },
        };
        var randomLines = new List<string>();
        var fittedLines = new List<string>();
        double random = FirstStepLoss("l2-init-random", Section(AdapterInit.Random), randomLines);
        double fitted = FirstStepLoss("l2-init-fitted", Section(AdapterInit.LeastSquares), fittedLines);
        Assert.DoesNotContain(randomLines, l => l.Contains("least squares", StringComparison.Ordinal));
        Assert.Equal(3, fittedLines.Count(l => l.Contains("fitted by least squares", StringComparison.Ordinal))); // the three tips
        Assert.True(fitted < random, $"first-step loss with least-squares adapters {fitted}, with random ones {random}");
    }

    [Fact]
    public void BadPairsFailBeforeAnyTrainingStep()
    {
        var input = new StageInput(fx.Baseline, fx.Baseline, fx.BaselineAp);
        var missing = new DistillSection { Type = DistillKind.L2Distill, Pairs = new List<string> { "backbone.nope:yolo_block.0.tip" } };
        var ctx = fx.Context("bad-path");
        var e = Assert.Throws<DistillationException>(() => DistillStage.Run(ctx, input, missing));
        Assert.Contains("the teacher has no module 'backbone.nope'", e.Message);
        Assert.False(File.Exists(Path.Combine(ctx.StageDir, Trainer.LastName)));

        var spatial = new DistillSection { Type = DistillKind.L2Distill, Pairs = new List<string> { "yolo_block.0.tip:yolo_block.1.tip" } };
        ctx = fx.Context("bad-spatial");
        e = Assert.Throws<DistillationException>(() => DistillStage.Run(ctx, input, spatial));
        Assert.Contains("spatial sizes must match", e.Message);
        Assert.False(File.Exists(Path.Combine(ctx.StageDir, Trainer.LastName)));
    }

    [Fact]
    public void TeacherErrorsAreClear()
    {
        var input = new StageInput(fx.Baseline, fx.Baseline, fx.BaselineAp);
        var e = Assert.Throws<DistillationException>(() => DistillStage.Run(fx.Context("t1"), input, new DistillSection { Teacher = Path.Combine(fx.Root, "missing.ckpt") }));
        Assert.Contains("is not 'baseline', 'train' or an existing checkpoint file", e.Message);
        e = Assert.Throws<DistillationException>(() => DistillStage.Run(fx.Context("t2"), input, new DistillSection { Teacher = "yolov3_resnet34" }));
        Assert.Contains("teacher: train with teacher_model", e.Message);
        e = Assert.Throws<DistillationException>(() => DistillStage.Run(fx.Context("t3"), input, new DistillSection { Teacher = "train" }));
        Assert.Contains("distill.teacher_model is not set", e.Message);
        e = Assert.Throws<DistillationException>(() => DistillStage.Run(fx.Context("t4"), new StageInput(fx.Baseline, "", 0), new DistillSection()));
        Assert.Contains("baseline checkpoint", e.Message);
        e = Assert.Throws<DistillationException>(() => DistillStage.Run(fx.Context("t5"), input, new DistillSection { FineTune = new FineTuneSection() }));
        Assert.Contains("distill.fine_tune.iterations is 0", e.Message);
    }

    [Fact]
    public void TrainedTeacherIsTrainedIntoTheStageFolderFirst()
    {
        var section = new DistillSection
        {
            Teacher = "train",
            TeacherModel = new ModelSection { Name = "yolov3_mobilenet_v1", Width = 0.5, InputSize = 64 },
            TeacherIterations = 3,
            FineTune = new FineTuneSection { Iterations = 2 },
        };
        var ctx = fx.Context("train-teacher");
        var outcome = DistillStage.Run(ctx, new StageInput(fx.Baseline, fx.Baseline, fx.BaselineAp), section);
        var teacherLast = Path.Combine(ctx.StageDir, DistillStage.TeacherDirName, Trainer.LastName);
        Assert.Equal("3", Checkpoint.ReadMetadata(teacherLast)["train.iteration"]);
        Assert.Equal("split_distill from yolov3_mobilenet_v1 (trained 3 it), 2 it", outcome.Detail);
        Assert.True(outcome.Extra.ContainsKey("teacher_ap"));
    }

    // The baseline's weights saved as a teacher trained on inputs normalized by other statistics.
    private static readonly float[] OtherMean = { 0.2f, 0.3f, 0.4f }, OtherStd = { 0.5f, 0.6f, 0.7f };

    private string TeacherOnOtherStatistics()
    {
        var path = Path.Combine(fx.Root, "teacher-other-statistics.ckpt");
        var (tensors, meta) = Checkpoint.Load(fx.Baseline);
        foreach (var (k, v) in ExportModelInfo.NormalizationMetadata(OtherMean, OtherStd)) meta[k] = v;
        Checkpoint.Save(path, tensors, meta);
        foreach (var t in tensors.Values) t.Dispose();
        return path;
    }

    [Fact]
    public void TheTaskNormalizesWithTheStatisticsItIsGiven()
    {
        // Raw pixels (mean 0, std 1), then by hand with the task's own statistics and with other ones.
        using var raw = fx.Task.WithNormalization(new[] { 0f, 0f, 0f }, new[] { 1f, 1f, 1f }).SampleInput();
        using var own = fx.Task.SampleInput();
        using var other = fx.Task.WithNormalization(OtherMean, OtherStd).SampleInput();
        var p = raw.ToFloatArray();
        Assert.InRange(p.Min(), 0f, 1f);
        Assert.InRange(p.Max(), 0f, 1f);
        int plane = (int)(raw.shape[2] * raw.shape[3]);
        var (o, t) = (own.ToFloatArray(), other.ToFloatArray());
        for (int i = 0; i < p.Length; i++)
        {
            int c = i / plane % 3;
            Assert.Equal((p[i] - fx.Task.Mean[c]) / fx.Task.Std[c], o[i], 4);
            Assert.Equal((p[i] - OtherMean[c]) / OtherStd[c], t[i], 4);
        }
        Assert.Equal(fx.Task.ValImageCount, fx.Task.WithNormalization(OtherMean, OtherStd).ValImageCount);
    }

    [Fact]
    public void ATeacherTrainedOnOtherStatisticsIsFedAndScoredOnThem()
    {
        var teacherPath = TeacherOnOtherStatistics();
        var input = DistillStage.TeacherInput(fx.Task, teacherPath);
        Assert.NotNull(input);
        Assert.Null(DistillStage.TeacherInput(fx.Task, fx.Baseline));

        // Every batch the teacher sees is the student's batch re-expressed in the teacher's statistics (by hand here).
        var (student, arch, options) = TestCheckpoints.Load(fx.Baseline);
        var (teacher, _, _) = TestCheckpoints.Load(teacherPath);
        using (student)
        using (teacher)
        {
            Tensor? last = null;
            int teacherCalls = 0;
            double worst = 0;
            using var studentHook = student.register_forward_hook((_, x, _) =>
            {
                last?.Dispose();
                last = ((Tensor)x).clone();
                last.DetachFromDisposeScope();
                return null;
            });
            using var teacherHook = teacher.register_forward_hook((_, x, _) =>
            {
                var s = last!.ToFloatArray();
                var got = ((Tensor)x).ToFloatArray();
                int plane = (int)(last.shape[2] * last.shape[3]);
                for (int i = 0; i < s.Length; i++)
                {
                    int c = i / plane % 3;
                    float pixel = s[i] * fx.Task.Std[c] + fx.Task.Mean[c];
                    worst = Math.Max(worst, Math.Abs((pixel - OtherMean[c]) / OtherStd[c] - got[i]));
                }
                teacherCalls++;
                return null;
            });
            DistillStage.Distill(fx.Context("other-statistics-fed"), student, arch, options, teacher, "other", null, Split(2), input);
            last?.Dispose();
            Assert.Equal(3, teacherCalls); // the dry run and two steps
            Assert.True(worst < 1e-4, $"the teacher's input differs from the renormalized batch by up to {worst}");
        }

        // Through the stage: scored on its own statistics, and the log says so.
        var lines = new List<string>();
        var section = Split(1);
        section.Teacher = teacherPath;
        var outcome = DistillStage.Run(fx.Context("other-statistics-run", lines), new StageInput(fx.Baseline, fx.Baseline, fx.BaselineAp), section);
        var (reloaded, _, _) = TestCheckpoints.Load(teacherPath);
        using (reloaded)
            Assert.Equal(fx.Task.WithNormalization(OtherMean, OtherStd).Evaluate(reloaded).Primary, outcome.Extra["teacher_ap"]);
        Assert.Contains(lines, l => l.Contains("renormalized", StringComparison.Ordinal) && l.Contains("→ mean 0.2, 0.3, 0.4, std 0.5, 0.6, 0.7", StringComparison.Ordinal));
    }

    [Fact]
    public void ATaskStartedFromACheckpointNormalizesAsTheCheckpointWasTrained()
    {
        // A model trained (from pretrained weights) on other statistics, then pruned or quantized by a recipe that
        // names it as model.checkpoint: the task feeds it what it learned on, and says so.
        var recipe = fx.Parse();
        recipe.Model.Checkpoint = TeacherOnOtherStatistics();
        var log = new List<string>();
        var task = DetectionTask.Create(recipe, log.Add);
        Assert.Equal(OtherMean, task.Mean);
        Assert.Equal(OtherStd, task.Std);
        Assert.Contains(log, l => l.StartsWith($"normalization the checkpoint ({recipe.Model.Checkpoint}) was trained with: mean 0.2, 0.3, 0.4, std 0.5, 0.6, 0.7", StringComparison.Ordinal));
        Assert.Equal(OtherMean, ExportModelInfo.FromMetadata(task.Metadata("yolov3_mobilenet_v1", task.ModelOptions()), "yolov3_mobilenet_v1").Mean);

        // One trained on the defaults changes nothing and says nothing.
        recipe.Model.Checkpoint = fx.Baseline;
        log.Clear();
        task = DetectionTask.Create(recipe, log.Add);
        Assert.Equal(fx.Task.Mean, task.Mean);
        Assert.DoesNotContain(log, l => l.StartsWith("normalization", StringComparison.Ordinal));
    }
}
