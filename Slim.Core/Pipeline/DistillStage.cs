using System.Globalization;
using Slim.Compression.Distillation;
using Slim.Data;
using Slim.Models;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Torch;
using Slim.Training;

namespace Slim.Pipeline;

/// <summary>
/// The distill stage: trains the previous stage's model (the student) with the task loss plus a
/// distillation loss from a frozen teacher — the baseline, a checkpoint, or a larger model trained
/// first — and saves the student alone (no l2 adapters), loadable with <see cref="ModelCheckpoint.Load(string)"/>.
/// The loss and its default feature pairs come from the task's family (split_distill on the YOLO
/// heads, soft_label on a classifier's logits). A teacher checkpoint trained on other input statistics than the
/// student's (a student from pretrained weights, a teacher from random ones) is scored and fed with its own: the
/// batches are renormalized for it (<see cref="InputRenormalization"/>).
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
        using var student = ModelCheckpoint.Load(input.Checkpoint, ctx.Task.Family);
        var options = ctx.Task.Family.Distillation(section, student.Options);
        var teacher = LoadTeacher(ctx, input, section, student.Model, options);
        using (teacher.Model)
            return Distill(ctx, student.Model, student.Architecture, student.Options, teacher.Model, teacher.Name, teacher.Ap, section, teacher.Input);
    }

    /// <summary>
    /// Distils <paramref name="teacher"/> into <paramref name="student"/> (both already loaded; the
    /// caller keeps them): checks the feature pairs with one dry forward before any step, trains the
    /// student (resumable from ctx.StageDir), keeps its best checkpoint when the recipe evaluates
    /// during training, and saves it to ctx.StageDir/student.ckpt with the metadata that rebuilds it.
    /// The teacher is frozen (no gradients, eval mode) and unchanged; with <paramref name="teacherInput"/> it gets each
    /// batch renormalized to the statistics it was trained on.
    /// </summary>
    public static StageOutcome Distill(StageContext ctx, torch.nn.Module student, string architecture, ModelOptions modelOptions,
        torch.nn.Module teacher, string teacherName, double? teacherAp, DistillSection section, InputRenormalization? teacherInput = null)
    {
        CheckIterations(section);
        var options = ctx.Task.Family.Distillation(section, modelOptions);
        student.eval();
        double before = ctx.Task.Evaluate(student).Primary;
        using var distiller = new Distiller(teacher, student, options, TeacherForward(teacher, teacherInput));
        using (var sample = ctx.Task.SampleInput())
            distiller.Validate(sample);
        FitAdapters(ctx, distiller, section, "distill");
        if (teacherInput is not null)
            ctx.Progress.Info($"distill: {teacherName} was trained on other input statistics than the student; it gets each batch renormalized ({teacherInput})");

        var settings = TrainSettings.From(ctx.Recipe.Train, section.FineTune) with
        {
            CheckpointInterval = Math.Max(10, section.FineTune.Iterations / 10),
        };
        string type = TypeName(options.Kind);
        var meta = ctx.Task.Metadata(architecture, modelOptions);
        meta["distill.teacher"] = teacherName;
        meta["distill.type"] = type;
        string mask = options.ObjectnessMaskFrom is { } masks ? $", each location weighed by the teacher's objectness ({string.Join(", ", masks)})" : "";
        ctx.Progress.Info(string.Create(CultureInfo.InvariantCulture,
            $"distill: {type} × {options.Weight:G4}{(options.Kind == DistillationKind.SoftLabel ? $" at T = {options.Temperature:G4}" : "")} from {teacherName} on {string.Join(", ", options.Pairs)}{mask}"));
        var loss = DistillationTraining.WithDistillation(ctx.Task.Loss(student), distiller, b => b.Images);
        var result = new Trainer(ctx.Progress, ctx.Group).Fit(distiller.TrainableModule, settings, ctx.Task.TrainBatches(settings.BatchSize, shard: ctx.Shard), loss,
            evaluate: settings.EvalInterval > 0 ? () => ctx.Task.Evaluate(student).Primary : null,
            checkpointDir: ctx.StageDir, resume: ctx.Resume, metadata: meta, description: "distill", cancel: ctx.Cancel, metricName: ctx.Task.MetricName, allowChanges: ctx.AllowChanges);
        // best/last hold the adapters too (they are trained with the student); load into the same module.
        if (result.BestCheckpoint is not null) Trainer.LoadModel(result.BestCheckpoint, distiller.TrainableModule);
        Plots.TrainingCurve.Save(ctx.StageDir, $"distillation ({type} from {teacherName})", ctx.Task.MetricName);
        student.eval();
        double after = ctx.Task.Evaluate(student).Primary;

        var path = Path.Combine(ctx.StageDir, StudentFileName);
        Checkpoint.Save(path, student.state_dict(), meta);
        var inv = CultureInfo.InvariantCulture;
        ctx.Progress.Info(string.Create(inv,
            $"distill: {ctx.Task.MetricName} {before * 100:F2} % → {after * 100:F2} % ({type} from {teacherName}{(teacherAp is double t ? $", teacher {t * 100:F2} %" : "")}); wrote {path}"));
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

    /// <summary>
    /// With adapter_init least_squares, fits the distiller's l2 adapters on the task's unaugmented training batches
    /// (<see cref="Distiller.FitAdapters"/>) and logs how much of the teacher's features each explains; else nothing.
    /// Deterministic, so a resumed run fits the same adapters before the checkpoint's trained ones replace them.
    /// </summary>
    internal static void FitAdapters(StageContext ctx, Distiller distiller, DistillSection section, string stage)
    {
        if (section.AdapterInit != AdapterInit.LeastSquares) return;
        var batchSize = TrainSettings.From(ctx.Recipe.Train, section.FineTune).BatchSize;
        var fits = distiller.FitAdapters(ctx.Task.CalibrationImages(section.AdapterFitBatches, batchSize,
            m => ctx.Progress.Info($"{stage}: {m} ({stage}.distill.adapter_fit_batches)")));
        if (fits.Count == 0)
            ctx.Progress.Info($"{stage}: adapter_init least_squares: every l2 pair has the teacher's channel count, no adapter to fit");
        foreach (var f in fits)
            ctx.Progress.Info(string.Create(CultureInfo.InvariantCulture,
                $"{stage}: adapter {f.Features} ({f.StudentChannels} → {f.TeacherChannels} channels) fitted by least squares on {f.Pixels} pixels; it explains {f.ExplainedVariance * 100:F1} % of the teacher features' variance"));
    }

    /// <summary>The recipe name of a distillation loss (split_distill, l2_distill, soft_label).</summary>
    public static string TypeName(DistillationKind kind) => kind switch
    {
        DistillationKind.Split => "split_distill",
        DistillationKind.L2 => "l2_distill",
        DistillationKind.SoftLabel => "soft_label",
        _ => kind.ToString(),
    };

    private static void CheckIterations(DistillSection section)
    {
        if (section.FineTune.Iterations <= 0)
            throw new DistillationException("distill.fine_tune.iterations is 0: distillation trains the student; give iterations (e.g. 200)");
    }

    private sealed record Teacher(torch.nn.Module Model, string Name, double? Ap, InputRenormalization? Input = null);

    /// <summary>
    /// How the task's batches must be renormalized for a teacher checkpoint: from the task's statistics to those the
    /// checkpoint records (dataset.mean/std); null when they are the same or the checkpoint records none.
    /// </summary>
    public static InputRenormalization? TeacherInput(ITask task, string checkpoint)
    {
        if (PretrainedWeights.CheckpointNormalization(checkpoint) is not var (mean, std)) return null;
        if (mean.Length != task.Mean.Count || std.Length != task.Std.Count)
            throw new DistillationException($"distill.teacher {checkpoint}: the teacher was trained on {mean.Length}-channel inputs, the student's data has {task.Mean.Count} channels; give a teacher of the same input");
        return InputRenormalization.Between(task.Mean, task.Std, mean, std);
    }

    /// <summary>The distiller's forward: the teacher on its renormalized batch, the student on the batch as it is; null (the default forward) without renormalization.</summary>
    public static Func<torch.nn.Module, Tensor, object?>? TeacherForward(torch.nn.Module teacher, InputRenormalization? input) => input is null ? null : (m, x) =>
    {
        if (!ReferenceEquals(m, teacher)) return ModuleInvoker.Call(m, x, "student");
        using var renormalized = input.Apply(x);
        return ModuleInvoker.Call(m, renormalized, "teacher");
    };

    private static Teacher LoadTeacher(StageContext ctx, StageInput input, DistillSection section, torch.nn.Module student, DistillationOptions options)
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
            if (!ctx.Task.Family.Architectures.Contains(m.Name))
                throw new DistillationException($"distill.teacher_model.name '{m.Name}' is not a {ctx.Task.Family.Name} model like the student; use one of {string.Join(", ", ctx.Task.Family.Architectures)}");
            // Check the pairs against an untrained teacher first: a typo must not cost a training run.
            using (var probe = ctx.Task.CreateModel(m))
                ValidatePairs(ctx, probe, student, options);
            var run = TrainStage.Run(ctx.Task, Path.Combine(ctx.StageDir, TeacherDirName), ctx.Resume, ctx.Progress, ctx.Cancel,
                model: m, iterations: section.TeacherIterations, description: "teacher", allowChanges: ctx.AllowChanges, group: ctx.Group);
            var loaded = ModelCheckpoint.Load(run.Checkpoint, ctx.Task.Family);
            int iterations = section.TeacherIterations ?? ctx.Recipe.Train.Iterations;
            return new Teacher(loaded.Model, $"{m.Name} (trained {iterations} it)", run.Score.Primary);
        }
        if (!File.Exists(spec))
        {
            string hint = TaskRegistry.Architectures.Contains(spec)
                ? $"; to train a {spec} teacher first use teacher: train with teacher_model: {{name: {spec}}}"
                : "";
            throw new DistillationException($"distill.teacher '{spec}' is not 'baseline', 'train' or an existing checkpoint file{hint}");
        }
        return Evaluated(ctx, spec, Path.GetFileName(spec), null);
    }

    // Loads a teacher checkpoint; evaluates it, on the inputs it was trained on, unless its metric is known.
    private static Teacher Evaluated(StageContext ctx, string path, string name, double? ap)
    {
        var input = TeacherInput(ctx.Task, path);
        var teacher = ModelCheckpoint.Load(path, ctx.Task.Family);
        try
        {
            var task = input is null ? ctx.Task : ctx.Task.WithNormalization(input.ToMean, input.ToStd);
            return new Teacher(teacher.Model, name, ap ?? task.Evaluate(teacher.Model).Primary, input);
        }
        catch
        {
            teacher.Dispose();
            throw;
        }
    }

    private static void ValidatePairs(StageContext ctx, torch.nn.Module teacher, torch.nn.Module student, DistillationOptions options)
    {
        using var distiller = new Distiller(teacher, student, options);
        using var sample = ctx.Task.SampleInput();
        distiller.Validate(sample);
    }
}
