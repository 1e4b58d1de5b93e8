using System.CommandLine;
using Slim.Analysis;
using Slim.Models;
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
        var sizes = new Option<int[]>("--sizes") { Description = "Several input sizes at once, e.g. --sizes 608 416 320.", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("flops", """
            Count GFLOPs (PaddleSlim's way: conv and fc multiply-accumulates, batch 1, / 2^30), true FLOPs,
            parameters (BN statistics included) and float32 size of a model.

            Examples:
              slim flops --model yolov3_mobilenet_v1 --num-classes 80 --sizes 608 416 320
              slim flops --checkpoint runs/quickstart/stages/01_prune/model.ckpt --per-layer
            """);
        model.AddTo(cmd);
        cmd.Options.Add(perLayer);
        cmd.Options.Add(sizes);
        cmd.SetAction(p => CliRunner.Run(() => Execute(model.Read(p), p.GetValue(sizes) ?? Array.Empty<int>(), p.GetValue(perLayer), AnsiConsole.Console)));
        return cmd;
    }

    public static ExitCode Execute(ModelSpec spec, IReadOnlyList<int> sizes, bool perLayer, IAnsiConsole console)
    {
        var (model, arch, options) = spec.Build();
        using var _ = model;
        var list = sizes.Count > 0 ? sizes : new[] { options.InputSize };
        var table = new Table().Title(Markup.Escape($"{arch} ({options.NumClasses} classes, width {options.Width})"))
            .AddColumn("input").AddColumn(new TableColumn("GFLOPs (Paddle)").RightAligned())
            .AddColumn(new TableColumn("FLOPs (G, all ops)").RightAligned()).AddColumn(new TableColumn("params (M)").RightAligned())
            .AddColumn(new TableColumn("size (MiB)").RightAligned());
        foreach (var size in list)
        {
            var stats = Stats(model, options.InChannels, size);
            if (perLayer) stats.Write(console);
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            table.AddRow($"{size}x{size}", stats.PaddleGFlops.ToString("F3", inv), (stats.Flops / 1e9).ToString("F3", inv),
                (stats.Parameters / 1e6).ToString("F3", inv), stats.SizeMiB.ToString("F2", inv));
        }
        console.Write(table);
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
