using System.CommandLine;
using Slim.Analysis;
using Slim.Models;
using Slim.Pipeline;
using Slim.Torch;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim flops`: GFLOPs, parameters and size of a model, per layer and in total.</summary>
public static class FlopsCommand
{
    public static Command Create()
    {
        var model = new ModelArgs();
        var perLayer = new Option<bool>("--per-layer") { Description = "Print the per-layer table." };
        var prune = new PruneCommand.Args();
        var sizes = new Option<int[]>("--sizes") { Description = "Several input sizes at once, e.g. --sizes 608 416 320.", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("flops", """
            Count GFLOPs (PaddleSlim's way: conv and fc multiply-accumulates, batch 1, / 2^30), true FLOPs,
            parameters (BN statistics included) and float32 size of a model.

            Examples:
              slim flops --model yolov3_mobilenet_v1 --num-classes 80 --sizes 608 416 320
              slim flops --checkpoint runs/quickstart/stages/01_prune/model.ckpt --per-layer
              slim flops --model yolov3_mobilenet_v1 --num-classes 80 --input-size 608 --pruned_ratios r578
              slim flops --model yolov3_mobilenet_v1 --pruned_params "yolo_block.*" --pruned_ratios 0.5 --criterion bn_scale

            With --pruned_ratios (and optionally --pruned_params, --criterion) the model is pruned first and
            both the unpruned and the pruned figures are printed.
            """);
        model.AddTo(cmd);
        cmd.Options.Add(perLayer);
        cmd.Options.Add(sizes);
        prune.AddTo(cmd);
        cmd.SetAction(p => CliRunner.Run(() => Execute(model.Read(p), p.GetValue(sizes) ?? Array.Empty<int>(), p.GetValue(perLayer), AnsiConsole.Console, prune.Read(p))));
        return cmd;
    }

    /// <summary>
    /// Prints the figures of the model at each size; with a pruning request (--pruned_ratios) the model
    /// is pruned after the unpruned rows are measured and the pruned rows follow.
    /// </summary>
    public static ExitCode Execute(ModelSpec spec, IReadOnlyList<int> sizes, bool perLayer, IAnsiConsole console,
        PruneCommand.PruneRequest? prune = null)
    {
        bool pruning = prune is { Any: true };
        if (pruning && prune!.Ratios is null)
            throw new UsageException("--pruned_params and --criterion need --pruned_ratios (a ratio, a list, or a preset: r578, sensity)");
        var criterion = (prune?.Criterion ?? "l1_norm").Trim();
        if (pruning) Slim.Compression.Pruning.Importance.ChannelImportanceRegistry.Get(criterion);
        var (model, arch, options) = spec.Build();
        using var _ = model;
        var list = sizes.Count > 0 ? sizes : new[] { options.InputSize };
        // Every size is checked before anything is measured: a size the model cannot take is the option's fault.
        bool detector = ModelRegistry.TaskOf(arch) == ModelTask.Detection;
        foreach (int s in list)
        {
            try
            {
                (options with { InputSize = s }).Validate(detector);
            }
            catch (ModelException)
            {
                throw new SlimException(detector
                    ? $"--sizes {s}: {arch} is a detector, which takes a positive multiple of 32 (e.g. 320, 416, 608)"
                    : $"--sizes {s}: an input size must be at least 8 pixels");
            }
        }
        var table = new Table().Title(Markup.Escape($"{arch} ({options.NumClasses} classes, width {options.Width})"));
        if (pruning) table.AddColumn("model");
        table.AddColumn("input").AddColumn(new TableColumn("GFLOPs (Paddle)").RightAligned())
            .AddColumn(new TableColumn("FLOPs (G, all ops)").RightAligned()).AddColumn(new TableColumn("params (M)").RightAligned())
            .AddColumn(new TableColumn("size (MiB)").RightAligned());
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        void Rows(string? label)
        {
            foreach (var size in list)
            {
                var stats = Stats(model, options.InChannels, size);
                if (perLayer)
                {
                    console.Write(stats.ToTable().ToSpectre());
                    console.WriteLine(stats.Summary());
                }
                var cells = new List<string>();
                if (label is not null) cells.Add(Markup.Escape(label));
                cells.AddRange(new[] { $"{size}x{size}", stats.PaddleGFlops.ToString("F3", inv), (stats.Flops / 1e9).ToString("F3", inv),
                    (stats.Parameters / 1e6).ToString("F3", inv), stats.SizeMiB.ToString("F2", inv) });
                table.AddRow(cells.ToArray());
            }
        }
        if (!pruning)
        {
            Rows(null);
            console.Write(table.FitTitle());
            return ExitCode.Ok;
        }
        // Targets are checked against the graph before anything is measured, so a bad list fails fast.
        var graph = Slim.Pipeline.PruneModel.Graph(model, options);
        var targets = Slim.Pipeline.PruneModel.Targets(graph, prune!.Params, prune.Ratios!);
        Rows("unpruned");
        var pruner = new Slim.Compression.Pruning.Pruner(graph, Slim.Compression.Pruning.Importance.ChannelImportanceRegistry.Get(criterion), prune.Align ?? 1);
        Slim.Compression.Pruning.Pruner.Apply(model, pruner.Plan(model, targets));
        Rows($"pruned {Slim.Pipeline.PruneModel.RatioLabel(prune.Ratios!, targets)}{(prune.Align is > 1 ? $" align {prune.Align}" : "")} ({criterion})");
        console.Write(table.FitTitle());
        return ExitCode.Ok;
    }

    /// <summary>Statistics of any registered model at a square input size.</summary>
    public static ModelStats Stats(torch.nn.Module model, int inChannels, int size)
    {
        var shape = new long[] { 1, inChannels, size, size };
        return model switch
        {
            torch.nn.Module<Tensor, Tensor[]> det => ModelStats.Compute(det, shape),
            torch.nn.Module<Tensor, Tensor> cls => ModelStats.Compute(cls, shape),
            _ => throw new SlimException($"cannot count FLOPs of a {model.TypeName}"),
        };
    }
}
