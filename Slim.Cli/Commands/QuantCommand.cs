using System.CommandLine;
using System.Globalization;
using Slim.Compression.Quantization;
using Slim.Pipeline;
using Slim.Recipes;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim quant`: INT8 quantization (aware or post-training) of a trained detector.</summary>
public static class QuantCommand
{
    /// <summary>The options of the verb, as parsed (null: take the recipe's value).</summary>
    public sealed record Settings(string? Checkpoint, string? Mode, string? Algo, IReadOnlyList<string> NotQuant,
        int? CalibrationBatches, int? Iterations, string Out, bool Resume);

    public static Command Create()
    {
        var recipe = new RecipeArgs();
        var checkpoint = new Option<string?>("--checkpoint") { Description = "The float checkpoint to quantize (default: the recipe's model.checkpoint)." };
        var mode = new Option<string?>("--mode") { Description = "aware (quantization-aware fine-tuning) or post (calibration only). Default: the recipe's quant stage, else aware." };
        var algo = new Option<string?>("--algo") { Description = "post: abs_max, avg, hist, kl or mse." };
        var notQuant = new Option<string[]>("--not-quant")
        {
            Description = "Module path patterns kept in float (replacing the recipe's not_quant), comma-separated and/or repeated, e.g. --not-quant res_conv1,se_block.",
            AllowMultipleArgumentsPerToken = true,
        };
        var batches = new Option<int?>("--calibration-batches") { Description = "post: batches of training images to calibrate on." };
        var iterations = new Option<int?>("--iterations") { Description = "aware: fine-tuning iterations (quant.fine_tune.iterations)." };
        var outDir = CommonOptions.Out("runs/quant");
        var resume = new Option<bool>("--resume") { Description = "aware: continue the fine-tune from OUT/qat/last.ckpt." };
        var cmd = new Command("quant", """
            Quantize a trained detector to INT8 (weights per channel, activations per tensor, symmetric).
            Prints the layer report (quantized or kept in float, and why) and the AP before and after, and
            writes OUT/quant.json (the scales the INT8 export reads) and OUT/twin.ckpt (the float model with
            folded weights that the scales apply to). Other settings come from the recipe's quant stage.

            Examples:
              slim quant recipes/quickstart.yml --checkpoint runs/qs/stages/00_train/best.ckpt --mode post --algo kl
              slim quant recipes/quickstart.yml --checkpoint pruned.ckpt --mode aware --iterations 300 --out runs/qat
              slim quant recipes/mv3.yml --checkpoint best.ckpt --mode post --not-quant res_conv1,se_block
            """);
        recipe.AddTo(cmd);
        foreach (var o in new Option[] { checkpoint, mode, algo, notQuant, batches, iterations, outDir, resume }) cmd.Options.Add(o);
        var launcher = new Launcher();
        launcher.AddTo(cmd);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            var settings = new Settings(p.GetValue(checkpoint), p.GetValue(mode), p.GetValue(algo), p.GetValue(notQuant) ?? Array.Empty<string>(),
                p.GetValue(batches), p.GetValue(iterations), p.GetValue(outDir)!, p.GetValue(resume));
            var r = recipe.Load(p);
            var section = Section(r, settings);
            return launcher.Run(p, r, settings.Out, ct, w => Execute(r, section, settings with { Out = w.OutDir }, w.Progress, w.Console, ct, w.Group));
        })));
        return cmd;
    }

    /// <summary>The recipe's quant stage (or the defaults) with the command-line values laid over it.</summary>
    public static QuantSection Section(Recipe recipe, Settings s)
    {
        var section = recipe.Stages.FirstOrDefault(st => st.Quant is not null)?.Quant ?? new QuantSection();
        if (s.Mode is not null) section.Mode = Choice<QuantMode>(s.Mode, "--mode");
        if (s.Algo is not null) section.Algo = Choice<CalibrationAlgo>(s.Algo, "--algo");
        var patterns = s.NotQuant.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)).ToList();
        if (patterns.Any(p => p.Length == 0))
            throw new UsageException("--not-quant has an empty pattern: give module path parts separated by commas, e.g. --not-quant res_conv1,se_block");
        if (patterns.Count > 0) section.NotQuant = patterns;
        if (s.CalibrationBatches is int n)
        {
            if (n < 1) throw new UsageException($"--calibration-batches {n}: give at least 1");
            section.CalibrationBatches = n;
        }
        if (s.Iterations is int it)
        {
            if (it < 1) throw new UsageException($"--iterations {it}: give at least 1");
            section.FineTune = new FineTuneSection { Iterations = it, Lr = section.FineTune.Lr, WarmupSteps = section.FineTune.WarmupSteps };
        }
        return section;
    }

    /// <summary>Runs the quant stage on the settings' checkpoint and prints the result.</summary>
    /// <param name="group">In a worker of a multi-process run, its group (QAT trains data-parallel, calibration is shared out).</param>
    public static ExitCode Execute(Recipe recipe, QuantSection section, Settings s, IProgressSink progress, IAnsiConsole console, CancellationToken cancel,
        Slim.Torch.ProcessGroup? group = null)
    {
        var checkpoint = s.Checkpoint ?? recipe.Model.Checkpoint
            ?? throw new UsageException("give the checkpoint to quantize: --checkpoint FILE (or set model.checkpoint in the recipe)");
        ModelCheckpoint.UseAsModel(checkpoint, recipe);
        var task = Slim.Training.Collectives.RankZeroFirst(group, () => TaskRegistry.CreateTask(recipe, progress.Info));
        using var folderLock = RunLock.Acquire(s.Out); // one writer per folder
        var ctx = new StageContext(recipe, task, s.Out, s.Resume, progress, cancel) { Group = group };
        var outcome = QuantStage.Run(ctx, new StageInput(checkpoint, "", double.NaN), section);
        var inv = CultureInfo.InvariantCulture;
        var table = new Table().Title(Markup.Escape($"quant: {outcome.Detail}")).AddColumn("").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow(Markup.Escape($"{task.MetricName} before (float)"), Units.Pct(outcome.Extra["ap_before"]));
        table.AddRow(Markup.Escape($"{task.MetricName} after (int8 fake-quant)"), Units.Pct(outcome.Extra["ap_after"]));
        table.AddRow("layers int8", outcome.Extra["quantized_layers"].ToString(inv));
        table.AddRow("layers kept in float", outcome.Extra["skipped_layers"].ToString(inv));
        table.AddRow("quantization file", Markup.Escape(outcome.QuantizationFile!));
        table.AddRow("float twin", Markup.Escape(outcome.Checkpoint));
        console.Write(table.FitTitle());
        return ExitCode.Ok;
    }

    /// <summary>Parses a recipe enum spelling (abs_max, split_distill …) given on the command line.</summary>
    internal static T Choice<T>(string value, string option) where T : struct, Enum
    {
        foreach (var v in Enum.GetValues<T>())
            if (string.Equals(RecipeBinder.EnumName(typeof(T), v), value.Trim(), StringComparison.OrdinalIgnoreCase)) return v;
        var names = Enum.GetValues<T>().Select(v => RecipeBinder.EnumName(typeof(T), v)).ToList();
        var near = Slim.Common.Suggest.Nearest(value, names);
        string hint = near.Count > 0 ? $" (did you mean {near[0]}?)" : "";
        throw new UsageException($"{option} '{value}' is not one of {string.Join(", ", names)}{hint}");
    }
}
