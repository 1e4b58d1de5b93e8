using System.Globalization;
using Slim.Compression.Distillation;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Pipeline;

/// <summary>
/// The distill stage: trains the previous stage's detector (the student) with the YOLOv3 loss
/// plus a distillation loss from a frozen teacher — the baseline, a checkpoint, or a larger
/// model trained first — and saves the student alone (no l2 adapters), loadable with
/// <see cref="TrainStage.Load"/>.
/// </summary>
public static class DistillStage
{
    /// <summary>The student checkpoint the stage hands on.</summary>
    public const string StudentFileName = "student.ckpt";

    /// <summary>The folder (inside the stage folder) of a teacher trained by the stage.</summary>
    public const string TeacherDirName = "teacher";

    /// <summary>Runs the stage: student = input.Checkpoint, teacher as section.Teacher says; writes into ctx.StageDir.</summary>
    public static StageOutcome Run(StageContext ctx, StageInput input, DistillSection section)
    {
        CheckIterations(section);
        var (student, arch, modelOptions) = TrainStage.Load(input.Checkpoint);
        using (student)
        {
            var options = Options(section, modelOptions.AnchorsPerScale);
            var teacher = LoadTeacher(ctx, input, section, student, options);
            using (teacher.Model)
                return Distill(ctx, student, arch, modelOptions, teacher.Model, teacher.Name, teacher.Ap, section);
        }
    }

    /// <summary>
    /// Distils <paramref name="teacher"/> into <paramref name="student"/> (both detectors already
    /// loaded; the caller keeps them): checks the feature pairs with one dry forward before any
    /// step, trains the student (resumable from ctx.StageDir), keeps its best checkpoint when the
    /// recipe evaluates during training, and saves it to ctx.StageDir/student.ckpt with the
    /// metadata that rebuilds it. The teacher is frozen (no gradients, eval mode) and unchanged.
    /// </summary>
    public static StageOutcome Distill(StageContext ctx, YoloV3 student, string architecture, ModelOptions modelOptions,
        YoloV3 teacher, string teacherName, double? teacherAp, DistillSection section)
    {
        CheckIterations(section);
        var options = Options(section, modelOptions.AnchorsPerScale);
        student.eval();
        double before = ctx.Task.Evaluate(student.call).Primary;
        using var distiller = new Distiller(teacher, student, options);
        using (var sample = ctx.Task.SampleInput())
            distiller.Validate(sample);

        var settings = TrainSettings.From(ctx.Recipe.Train, section.FineTune) with
        {
            CheckpointInterval = Math.Max(10, section.FineTune.Iterations / 10),
        };
        var meta = ctx.Task.Metadata(architecture, modelOptions);
        meta["distill.teacher"] = teacherName;
        meta["distill.type"] = RecipeBinder.EnumName(typeof(DistillKind), section.Type);
        var loss = DistillationTraining.WithDistillation(ctx.Task.Loss(student), distiller, b => b.Images);
        var result = new Trainer(ctx.Progress).Fit(distiller.TrainableModule, settings, ctx.Task.TrainBatches(settings.BatchSize), loss,
            evaluate: settings.EvalInterval > 0 ? () => ctx.Task.Evaluate(student.call).Primary : null,
            checkpointDir: ctx.StageDir, resume: ctx.Resume, metadata: meta, description: "distill", cancel: ctx.Cancel);
        // best/last hold the adapters too (they are trained with the student); load into the same module.
        if (result.BestCheckpoint is not null) Trainer.LoadModel(result.BestCheckpoint, distiller.TrainableModule);
        student.eval();
        double after = ctx.Task.Evaluate(student.call).Primary;

        var path = Path.Combine(ctx.StageDir, StudentFileName);
        Checkpoint.Save(path, student.state_dict(), meta);
        string type = RecipeBinder.EnumName(typeof(DistillKind), section.Type);
        var inv = CultureInfo.InvariantCulture;
        ctx.Progress.Info(string.Create(inv,
            $"distill: {ctx.Task.MetricName} {before * 100:F2} → {after * 100:F2} ({type} from {teacherName}{(teacherAp is double t ? $", teacher {t * 100:F2}" : "")}); wrote {path}"));
        var extra = new Dictionary<string, double> { ["ap_before"] = before, ["ap_after"] = after };
        if (teacherAp is double ta) extra["teacher_ap"] = ta;
        return new StageOutcome
        {
            Stage = "distill",
            Detail = $"{type} from {teacherName}, {section.FineTune.Iterations} it",
            Checkpoint = path,
            Ap = after,
            Extra = extra,
        };
    }

    /// <summary>The distiller's options from a recipe's distill section (anchors per scale from the model).</summary>
    public static DistillationOptions Options(DistillSection section, int anchors)
    {
        var options = new DistillationOptions
        {
            Kind = section.Type == DistillKind.L2Distill ? DistillationKind.L2 : DistillationKind.Split,
            Weight = section.Weight,
            Pairs = section.Pairs.Count == 0 ? FeaturePair.YoloOutputs : section.Pairs.Select(FeaturePair.Parse).ToArray(),
            Anchors = anchors,
            XyWeight = section.XyWeight,
            WhWeight = section.WhWeight,
            ObjWeight = section.ObjWeight,
            ClsWeight = section.ClsWeight,
        };
        options.Check();
        return options;
    }

    private static void CheckIterations(DistillSection section)
    {
        if (section.FineTune.Iterations <= 0)
            throw new DistillationException("distill.fine_tune.iterations is 0: distillation trains the student; give iterations (e.g. 200)");
    }

    private sealed record Teacher(YoloV3 Model, string Name, double? Ap);

    private static Teacher LoadTeacher(StageContext ctx, StageInput input, DistillSection section, YoloV3 student, DistillationOptions options)
    {
        string spec = section.Teacher.Trim();
        if (spec == "baseline")
        {
            if (string.IsNullOrEmpty(input.BaselineCheckpoint) || !File.Exists(input.BaselineCheckpoint))
                throw new DistillationException($"distill.teacher is 'baseline' but the baseline checkpoint '{input.BaselineCheckpoint}' does not exist; train the baseline first or give distill.teacher a checkpoint path");
            return Evaluated(ctx, input.BaselineCheckpoint, "baseline", double.IsFinite(input.BaselineAp) ? input.BaselineAp : null);
        }
        if (spec == "train")
        {
            var m = section.TeacherModel
                ?? throw new DistillationException("distill.teacher is 'train' but distill.teacher_model is not set: name the teacher to train, e.g. teacher_model: {name: yolov3_resnet34, width: 0.5}");
            // Check the pairs against an untrained teacher first: a typo must not cost a training run.
            using (var probe = ctx.Task.CreateModel(m))
                ValidatePairs(ctx, probe, student, options);
            var run = TrainStage.Run(ctx.Recipe, ctx.Task, Path.Combine(ctx.StageDir, TeacherDirName), ctx.Resume, ctx.Progress, ctx.Cancel,
                model: m, iterations: section.TeacherIterations, description: "teacher");
            var (model, _, _) = TrainStage.Load(run.Checkpoint);
            int iterations = section.TeacherIterations ?? ctx.Recipe.Train.Iterations;
            return new Teacher(model, $"{m.Name} (trained {iterations} it)", run.Score.Primary);
        }
        if (!File.Exists(spec))
        {
            string hint = ModelRegistry.Contains(spec)
                ? $"; to train a {spec} teacher first use teacher: train with teacher_model: {{name: {spec}}}"
                : "";
            throw new DistillationException($"distill.teacher '{spec}' is not 'baseline', 'train' or an existing checkpoint file{hint}");
        }
        return Evaluated(ctx, spec, Path.GetFileName(spec), null);
    }

    // Loads a teacher checkpoint; evaluates it unless its AP is known.
    private static Teacher Evaluated(StageContext ctx, string path, string name, double? ap)
    {
        var (teacher, _, _) = TrainStage.Load(path);
        try
        {
            teacher.eval();
            return new Teacher(teacher, name, ap ?? ctx.Task.Evaluate(teacher.call).Primary);
        }
        catch
        {
            teacher.Dispose();
            throw;
        }
    }

    private static void ValidatePairs(StageContext ctx, YoloV3 teacher, YoloV3 student, DistillationOptions options)
    {
        using var distiller = new Distiller(teacher, student, options);
        using var sample = ctx.Task.SampleInput();
        distiller.Validate(sample);
    }
}
