using System.CommandLine;
using System.Globalization;
using Slim.Pipeline;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim distill`: train a student detector with knowledge distillation from a teacher.</summary>
public static class DistillCommand
{
    /// <summary>The options of the verb, as parsed (null: take the recipe's value).</summary>
    public sealed record Settings(string? Checkpoint, string? Teacher, string? Baseline, string? Type, int? Iterations, string Out, bool Resume);

    public static Command Create()
    {
        var recipe = new RecipeArgs();
        var checkpoint = new Option<string?>("--checkpoint") { Description = "The student checkpoint (e.g. a pruned model)." };
        var teacher = new Option<string?>("--teacher") { Description = "baseline (the --baseline checkpoint), a checkpoint path, or train (distill.teacher_model). Default: the recipe's distill stage, else baseline." };
        var baseline = new Option<string?>("--baseline") { Description = "The baseline checkpoint used by --teacher baseline (default: the recipe's model.checkpoint)." };
        var type = new Option<string?>("--type") { Description = "split_distill (fine-grained YOLO) or l2_distill (feature maps)." };
        var iterations = new Option<int?>("--iterations") { Description = "Training iterations of the student (distill.fine_tune.iterations)." };
        var outDir = CommonOptions.Out("runs/distill");
        var resume = new Option<bool>("--resume") { Description = "Continue from OUT/last.ckpt (and a teacher in OUT/teacher)." };
        var cmd = new Command("distill", """
            Train a student detector with the YOLOv3 loss plus a distillation loss from a frozen teacher, then
            print the AP before and after and write OUT/student.ckpt. Other settings (weights, pairs,
            learning rate) come from the recipe's distill stage.

            Examples:
              slim distill recipes/quickstart.yml --checkpoint pruned.ckpt --teacher baseline --baseline runs/qs/stages/00_train/best.ckpt
              slim distill recipes/quickstart.yml --checkpoint pruned.ckpt --teacher big.ckpt --type l2_distill --iterations 300
            """);
        recipe.AddTo(cmd);
        foreach (var o in new Option[] { checkpoint, teacher, baseline, type, iterations, outDir, resume }) cmd.Options.Add(o);
        var launcher = new Launcher();
        launcher.AddTo(cmd);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            var settings = new Settings(p.GetValue(checkpoint), p.GetValue(teacher), p.GetValue(baseline), p.GetValue(type),
                p.GetValue(iterations), p.GetValue(outDir)!, p.GetValue(resume));
            var r = recipe.Load(p);
            var section = Section(r, settings);
            return launcher.Run(p, r, settings.Out, ct, w => Execute(r, section, settings with { Out = w.OutDir }, w.Progress, w.Console, ct, w.Group));
        })));
        return cmd;
    }

    /// <summary>The recipe's distill stage (or the defaults) with the command-line values laid over it.</summary>
    public static DistillSection Section(Recipe recipe, Settings s)
    {
        var section = recipe.Stages.FirstOrDefault(st => st.Distill is not null)?.Distill ?? new DistillSection();
        if (s.Teacher is not null)
        {
            if (s.Teacher.Trim().Length == 0) throw new UsageException("--teacher is empty: give baseline, train or a checkpoint path");
            section.Teacher = s.Teacher;
        }
        if (s.Type is not null) section.Type = QuantCommand.Choice<DistillKind>(s.Type, "--type");
        if (s.Iterations is int it)
        {
            if (it < 1) throw new UsageException($"--iterations {it}: give at least 1");
            section.FineTune = new FineTuneSection { Iterations = it, Lr = section.FineTune.Lr, WarmupSteps = section.FineTune.WarmupSteps };
        }
        return section;
    }

    /// <summary>Runs the distill stage and prints the result.</summary>
    /// <param name="group">In a worker of a multi-process run, its group (the student trains data-parallel).</param>
    public static ExitCode Execute(Recipe recipe, DistillSection section, Settings s, IProgressSink progress, IAnsiConsole console, CancellationToken cancel,
        Slim.Torch.ProcessGroup? group = null)
    {
        var student = s.Checkpoint ?? throw new UsageException("give the student: --checkpoint FILE");
        string baseline = s.Baseline ?? recipe.Model.Checkpoint ?? "";
        if (section.Teacher.Trim() == "baseline" && baseline.Length == 0)
            throw new UsageException("--teacher baseline needs the baseline checkpoint: give --baseline FILE (or set model.checkpoint in the recipe), or --teacher PATH");
        // A student of the recipe's architecture (a pruned one, say) gives the task its input statistics.
        if (File.Exists(student) && Checkpoint.ReadMetadata(student).TryGetValue(ModelOptions.MetadataPrefix + "architecture", out var arch) && arch == recipe.Model.Name)
            recipe.Model.Checkpoint = student;
        var task = Slim.Training.Collectives.RankZeroFirst(group, () => TaskRegistry.CreateTask(recipe, progress.Info));
        using var folderLock = RunLock.Acquire(s.Out); // one writer per folder
        var ctx = new StageContext(recipe, task, s.Out, s.Resume, progress, cancel) { Group = group };
        var outcome = DistillStage.Run(ctx, new StageInput(student, baseline, double.NaN), section);
        var inv = CultureInfo.InvariantCulture;
        var table = new Table().Title(Markup.Escape($"distill: {outcome.Detail}")).AddColumn("").AddColumn(new TableColumn("value").RightAligned());
        if (outcome.Extra.TryGetValue("teacher_ap", out var t)) table.AddRow(Markup.Escape($"{task.MetricName} teacher"), Units.Pct(t));
        table.AddRow(Markup.Escape($"{task.MetricName} student before"), Units.Pct(outcome.Extra["ap_before"]));
        table.AddRow(Markup.Escape($"{task.MetricName} student after"), Units.Pct(outcome.Extra["ap_after"]));
        table.AddRow("student checkpoint", Markup.Escape(outcome.Checkpoint));
        console.Write(table.FitTitle());
        return ExitCode.Ok;
    }
}
