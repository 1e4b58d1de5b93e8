using System.CommandLine;
using System.Globalization;
using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim prune`: channel pruning of a model, standalone (no data) or as the recipe's prune stage (with fine-tuning).</summary>
public static class PruneCommand
{
    /// <summary>The pruning options shared with `slim flops` (PaddleSlim's spellings, with dashed aliases).</summary>
    public sealed class Args
    {
        public Option<string?> Params { get; } = new("--pruned_params", "--pruned-params")
        {
            Description = "Conv weights to prune: comma list of names or globs, e.g. 'yolo_block.*'. With a preset (r578, sensity) and no list: the 18 YOLOv3 head convs; without either: the model family's default (a detector's yolo_block convs, every conv of a classifier).",
        };

        public Option<string?> Ratios { get; } = new("--pruned_ratios", "--pruned-ratios")
        {
            Description = $"One ratio for all, one per parameter (comma list), or a preset: {string.Join(", ", RatioPresets.Names)}.",
        };

        public Option<string?> Criterion { get; } = new("--criterion")
        {
            Description = $"Channel importance: {string.Join(", ", ChannelImportanceRegistry.Names)} (default l1_norm, or the recipe's).",
        };

        public Option<int?> Align { get; } = new("--align")
        {
            Description = "Round every pruned group's kept channels to the nearest multiple of this (8 or 16: faster int8/SIMD kernels); default 1 (off), or the recipe's prune.align.",
        };

        public void AddTo(Command cmd)
        {
            cmd.Options.Add(Params);
            cmd.Options.Add(Ratios);
            cmd.Options.Add(Criterion);
            cmd.Options.Add(Align);
        }

        public PruneRequest Read(ParseResult p)
        {
            var align = p.GetValue(Align);
            if (align is < 1 or > 1024) throw new UsageException($"--align {align}: expected 1 (off) … 1024, e.g. 8 or 16");
            return new(p.GetValue(Params), p.GetValue(Ratios), p.GetValue(Criterion), align);
        }
    }

    /// <summary>Pruning options as typed on the command line (null = not given).</summary>
    public sealed record PruneRequest(string? Params, string? Ratios, string? Criterion, int? Align = null)
    {
        public bool Any => Params is not null || Ratios is not null || Criterion is not null || Align is not null;
    }

    public static Command Create()
    {
        var recipeFile = new Argument<string?>("recipe") { Description = "A recipe: prune as its first prune stage (with its fine-tune and distillation).", Arity = ArgumentArity.ZeroOrOne };
        var overrides = CommonOptions.Overrides();
        var model = new ModelArgs();
        var prune = new Args();
        var dryRun = new Option<bool>("--dry-run") { Description = "Only print the channels per layer and GFLOPs/params/size before and after; write nothing, need no data." };
        var outPath = new Option<string?>("--out") { Description = "Standalone: the pruned checkpoint file. With a recipe: the stage folder (default runs/prune)." };
        var resume = new Option<bool>("--resume") { Description = "With a recipe: continue an interrupted sensitivity analysis or fine-tune in --out." };
        var explain = new Option<bool>("--explain") { Description = "Also list every conv with why it was pruned or left alone (unprunable group and why, not named by pruned_params, ratio rounding to no channel)." };
        var cmd = new Command("prune", """
            Prune convolution channels physically (the dependency graph keeps concatenations, residual adds,
            depthwise convs and SE blocks consistent) and save a checkpoint whose metadata rebuilds the
            smaller model. Without a recipe nothing is fine-tuned; with one, the recipe's first prune stage
            runs (sensitivity analysis, AP before/after, fine-tune, optional distillation); options given on
            the command line replace the stage's.

            Examples:
              slim prune --model yolov3_mobilenet_v1 --num-classes 80 --input-size 608 --pruned_ratios r578 --dry-run
              slim prune --checkpoint runs/train/best.ckpt --pruned_params "yolo_block.*" --pruned_ratios 0.3 --out pruned.ckpt
              slim prune recipes/quickstart.yml --checkpoint runs/train/best.ckpt --out runs/prune
              slim prune recipes/quickstart.yml --checkpoint runs/train/best.ckpt --pruned_ratios sensity --criterion geometry_median
            """);
        cmd.Arguments.Add(recipeFile);
        cmd.Options.Add(overrides);
        model.AddTo(cmd);
        prune.AddTo(cmd);
        cmd.Options.Add(dryRun);
        cmd.Options.Add(outPath);
        cmd.Options.Add(resume);
        cmd.Options.Add(explain);
        var launcher = new Launcher();
        launcher.AddTo(cmd);
        cmd.SetAction((p, ct) => Task.FromResult(CliRunner.Run(() =>
        {
            var console = AnsiConsole.Console;
            var request = prune.Read(p);
            if (p.GetValue(recipeFile) is not { } file)
            {
                if (launcher.Requested(p)) throw new UsageException("--nproc-per-node goes with a recipe: pruning alone is not trained, there is nothing to run in parallel");
                Standalone(model.Read(p), request, p.GetValue(dryRun), p.GetValue(outPath), console, p.GetValue(explain));
                return ExitCode.Ok;
            }
            var r = RecipeLoader.Load<Recipe>(file, p.GetValue(overrides) ?? Array.Empty<string>());
            Runtime.Configure(r);
            var checkpoint = p.GetValue(model.Checkpoint) ?? r.Model.Checkpoint
                ?? throw new UsageException("give --checkpoint FILE (the trained model to prune) or set model.checkpoint in the recipe");
            ModelCheckpoint.UseAsModel(checkpoint, r);
            var section = Section(r, request);
            if (p.GetValue(dryRun))
            {
                Standalone(model.Read(p) with { Checkpoint = checkpoint },
                    new PruneRequest(PruneStage.Parameters(TaskRegistry.For(r), section), PruneStage.Ratios(TaskRegistry.For(r), section), PruneModel.CriterionName(section.Criterion), section.Align),
                    true, null, console, p.GetValue(explain));
                return ExitCode.Ok;
            }
            return launcher.Run(p, r, p.GetValue(outPath) ?? "runs/prune", ct,
                w => WithRecipe(r, section, checkpoint, w.OutDir, p.GetValue(resume), w.Console, w.Progress, ct, w.Group));
        })));
        return cmd;
    }

    /// <summary>The recipe's first prune section (defaults when it has none) with the command-line values laid over it.</summary>
    public static PruneSection Section(Recipe recipe, PruneRequest request)
    {
        var s = recipe.Stages.FirstOrDefault(x => x.Prune is not null)?.Prune ?? new PruneSection();
        return new PruneSection
        {
            Criterion = request.Criterion is { } c ? PruneModel.ParseCriterion(c) : s.Criterion,
            PrunedParams = request.Params is { } ps ? new List<string> { ps } : request.Ratios is { } rs && RatioPresets.Find(rs) is not null ? new List<string>() : s.PrunedParams,
            PrunedRatios = request.Ratios ?? s.PrunedRatios,
            Align = request.Align ?? s.Align,
            Sensitivity = s.Sensitivity,
            FineTune = s.FineTune,
            Distill = s.Distill,
        };
    }

    /// <summary>
    /// Prunes a model named by architecture or checkpoint; prints the changed layers and the totals;
    /// writes the pruned checkpoint to <paramref name="outPath"/> unless <paramref name="dryRun"/>.
    /// Every option is checked before anything is written. Returns what the pruning did.
    /// </summary>
    public static PruneResult Standalone(ModelSpec spec, PruneRequest request, bool dryRun, string? outPath, IAnsiConsole console, bool explain = false)
    {
        if (request.Ratios is null) throw new UsageException("give --pruned_ratios (a ratio, a list, or a preset: " + string.Join(", ", RatioPresets.Names) + ")");
        if (!dryRun && outPath is null) throw new UsageException("give --out FILE for the pruned checkpoint (or --dry-run to only print the result)");
        var criterion = (request.Criterion ?? "l1_norm").Trim();
        ChannelImportanceRegistry.Get(criterion);
        var (model, arch, options) = spec.Build();
        using var _ = model;
        var graph = PruneModel.Graph(model, options);
        // No list and no preset: the family's default parameters, as a recipe's prune stage takes them.
        var parameters = request.Params ?? (RatioPresets.Find(request.Ratios) is null ? string.Join(",", TaskRegistry.ForArchitecture(arch).DefaultPrunedParameters) : null);
        var targets = PruneModel.Targets(graph, parameters, request.Ratios);
        var result = PruneModel.Apply(model, options, graph, targets, criterion, align: request.Align ?? 1);
        Print(console, arch, request.Ratios, criterion, result);
        if (explain) console.Write(PruneTables.Explain(graph, result));
        if (dryRun) return result;

        var path = Directory.Exists(outPath) ? Path.Combine(outPath!, PruneStage.ModelName) : outPath!;
        var inherited = spec.Checkpoint is not null ? Checkpoint.ReadMetadata(spec.Checkpoint) : null;
        PruneModel.Save(path, model, PruneModel.Metadata(arch, result, criterion, inherited));
        console.WriteLine($"pruned checkpoint: {path}");
        return result;
    }

    /// <summary>Prints the per-group channel counts, the changed layers and the totals of a pruning.</summary>
    public static void Print(IAnsiConsole console, string architecture, string ratios, string criterion, PruneResult result)
    {
        var ci = CultureInfo.InvariantCulture;
        var groups = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"{architecture}: {ratios} ({criterion})"))
            .AddColumn("pruned parameter").AddColumn(new TableColumn("ratio").RightAligned())
            .AddColumn(new TableColumn("channels").RightAligned()).AddColumn(new TableColumn("layers").RightAligned());
        foreach (var g in result.Plan.Groups)
            groups.AddRow(Markup.Escape(string.Join(", ", g.Parameters)), g.Ratio.ToString("0.###", ci),
                $"{g.ChannelsBefore} → {g.ChannelsAfter}", g.Group.Members.Count.ToString(ci));
        console.Write(groups.FitTitle());
        if (PruneTables.Alignment(result) is { } alignment) console.Write(alignment);
        console.Write(PruneTables.Layers(result));
        console.Write(PruneTables.Totals(result.Before, result.After, $"{architecture} {PruneModel.RatioLabel(ratios, result.Targets)} at {result.Options.InputSize}×{result.Options.InputSize}"));
    }

    /// <summary>Runs the prune stage of a recipe on a checkpoint into outDir and prints its figures.</summary>
    /// <param name="group">In a worker of a multi-process run, its group (sensitivity shared out, fine-tune data-parallel).</param>
    public static ExitCode WithRecipe(Recipe recipe, PruneSection section, string checkpoint, string outDir, bool resume,
        IAnsiConsole console, IProgressSink progress, CancellationToken cancel, Slim.Torch.ProcessGroup? group = null)
    {
        var task = Slim.Training.Collectives.RankZeroFirst(group, () => TaskRegistry.CreateTask(recipe, progress.Info));
        using var folderLock = RunLock.Acquire(outDir); // one writer per folder
        var ctx = new StageContext(recipe, task, outDir, resume, progress, cancel) { Group = group };
        var outcome = PruneStage.Run(ctx, new StageInput(checkpoint, checkpoint, double.NaN), section);
        var ci = CultureInfo.InvariantCulture;
        var t = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"prune: {outcome.Detail}"))
            .AddColumn("").AddColumn(new TableColumn("value").RightAligned());
        string Pct(string k) => Units.Pct(outcome.Extra[k]);
        t.AddRow(Markup.Escape($"{task.MetricName} before"), Pct("ap_before"));
        t.AddRow("right after pruning", Pct("ap_after_prune"));
        t.AddRow("after fine-tuning", Pct("ap_after_finetune"));
        t.AddRow("GFLOPs before → after", $"{outcome.Extra["gflops_before"].ToString("F3", ci)} → {outcome.Extra["gflops_after"].ToString("F3", ci)}");
        console.Write(t.FitTitle());
        console.WriteLine($"checkpoint: {outcome.Checkpoint}");
        return ExitCode.Ok;
    }
}
