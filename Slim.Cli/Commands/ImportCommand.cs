using System.CommandLine;
using System.Globalization;
using Slim.Import;
using Slim.Models;
using Slim.Pipeline;
using Slim.Torch;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim import`: weights trained elsewhere (PyTorch, PaddlePaddle) as a Slim checkpoint.</summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var weights = new Argument<string>("weights") { Description = "A torch.save state dict (.pt/.pth, zip or legacy) or a paddle.save .pdparams file." };
        var model = new Option<string>("--model") { Description = $"The Slim architecture to fill: {string.Join(", ", ModelRegistry.Names)}.", Required = true };
        var numClasses = new Option<int?>("--num-classes") { Description = "Classes of the model (default: a classifier takes its source's, a detector 80)." };
        var width = new Option<double>("--width") { Description = "Channel width multiplier of the source.", DefaultValueFactory = _ => 1.0 };
        var inputSize = new Option<int?>("--input-size") { Description = "Input size recorded in the checkpoint (default 224 for a classifier, 608 for a detector)." };
        var format = new Option<string?>("--format") { Description = "torch or paddle (default: found from the file)." };
        var layout = new Option<string?>("--layout") { Description = "paddle or torchvision: the form of the architecture to build where the two differ (default: the built-in map's, torchvision's for PyTorch files and Paddle's for .pdparams; the architecture's own with --map)." };
        var map = new Option<string?>("--map") { Description = "A mapping file (rules: [{from: REGEX, to: NAME}], optional mean/std) for sources without a built-in map." };
        var backboneOnly = new Option<bool>("--backbone-only") { Description = "Fill only backbone.* (e.g. an ImageNet backbone under a head of other classes, or a detector's backbone)." };
        var allowMissing = new Option<bool>("--allow-missing") { Description = "Keep the model's tensors the file has no value for at their initial values (by default each must get one)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Only report what maps where (every matched, unmatched and mis-shaped tensor); write nothing. Exits 3 when the import would fail." };
        var outPath = new Option<string?>("--out") { Description = "The Slim checkpoint to write (FILE.ckpt)." };
        var cmd = new Command("import", $"""
            Read weights trained elsewhere and write them as an ordinary Slim checkpoint, which eval, export, prune,
            quant and recipes (model.checkpoint) take as they take a trained one. Every tensor of the model is
            either loaded or reported as left at its initial values, every tensor of the file used or reported with
            the reason; a tensor whose shape does not fit is an error naming both shapes. The source's input
            normalization (ImageNet mean/std for the built-in maps) is recorded in the checkpoint.

            Built-in maps: {string.Join("; ", WeightMap.BuiltIn)}.

            Examples:
              slim import resnet50.pth --model resnet50 --out resnet50.ckpt
              slim import mobilenet_v2.pth --model mobilenet_v2 --num-classes 10 --backbone-only --out mnv2-backbone.ckpt
              slim import resnet34.pth --model yolov3_resnet34 --backbone-only --num-classes 20 --out yolo-r34-init.ckpt
              slim import my_net.pdparams --model mobilenet_v1 --map my_map.yml --dry-run
            """);
        cmd.Arguments.Add(weights);
        foreach (var o in new Option[] { model, numClasses, width, inputSize, format, layout, map, backboneOnly, allowMissing, dryRun, outPath }) cmd.Options.Add(o);
        cmd.SetAction(p => CliRunner.Run(() =>
        {
            var request = new Request(p.GetValue(weights)!, p.GetValue(model)!, p.GetValue(numClasses), p.GetValue(width), p.GetValue(inputSize),
                p.GetValue(format), p.GetValue(map), p.GetValue(backboneOnly), p.GetValue(dryRun), p.GetValue(outPath), p.GetValue(allowMissing), p.GetValue(layout));
            var report = Execute(request);
            Print(AnsiConsole.Console, report, request);
            // A dry run shows every problem; it still fails as the import would, so that scripts notice.
            if (report.Misfits.Count > 0 || (report.Missing.Count > 0 && !request.AllowMissing))
                throw new InvalidDataException($"{request.Weights}: the import would fail: {report.Misfits.Count} tensor(s) do not fit, " +
                                               $"{(request.AllowMissing ? 0 : report.Missing.Count)} of the model's get no value (listed above)");
            return ExitCode.Ok;
        }));
        return cmd;
    }

    /// <summary>What to import into what.</summary>
    public sealed record Request(string Weights, string Model, int? NumClasses, double Width, int? InputSize, string? Format, string? Map,
        bool BackboneOnly, bool DryRun, string? Out, bool AllowMissing = false, string? Layout = null);

    /// <summary>The plain method behind the verb: reads, maps, checks, and (unless a dry run) writes the checkpoint.</summary>
    public static ImportReport Execute(Request r)
    {
        if (!r.DryRun && r.Out is null) throw new UsageException("give --out FILE.ckpt for the checkpoint (or --dry-run to only see what maps where)");
        if (r.Out is not null && Directory.Exists(r.Out)) throw new UsageException($"--out {r.Out}: is a folder; give the checkpoint file to write (FILE.ckpt)");
        WeightFormat? format = r.Format?.Trim().ToLowerInvariant() switch
        {
            null => null,
            "torch" or "pytorch" => WeightFormat.Torch,
            "paddle" or "paddlepaddle" => WeightFormat.Paddle,
            var f => throw new UsageException($"--format {f}: expected torch or paddle"),
        };
        ModelLayout? layout = r.Layout is null ? null
            : ModelOptions.ParseLayout(r.Layout.Trim().ToLowerInvariant()) ?? throw new UsageException($"--layout {r.Layout}: expected paddle or torchvision");
        var family = TaskRegistry.ForArchitecture(r.Model);
        if (!File.Exists(r.Weights)) throw new FileNotFoundException($"{r.Weights}: weights file not found", r.Weights);
        var found = format ?? PickledWeights.Detect(r.Weights);
        var mapping = r.Map is not null ? WeightMap.FromFile(r.Map) : WeightMap.For(r.Model, found)
            ?? throw new UsageException($"no built-in map from {found} weights to {r.Model} ({string.Join("; ", WeightMap.BuiltIn)}); give a mapping file with --map");
        var source = PickledWeights.Read(r.Weights, found);

        bool detector = ModelRegistry.TaskOf(r.Model) == ModelTask.Detection;
        // A classifier's class count is its source head's unless told; rows of the tensor that maps to fc.weights.
        int classes = r.NumClasses ?? (detector ? 80 : HeadRows(source, mapping)
            ?? throw new UsageException("give --num-classes N (the file has no classifier head to take it from)"));
        var options = new ModelOptions
        {
            NumClasses = classes, Width = r.Width, InputSize = r.InputSize ?? (detector ? 608 : 224), InChannels = 3, Layout = layout ?? mapping.Layout,
        };
        using var net = family.CreateModel(r.Model, options);
        ImportReport report;
        try
        {
            report = WeightImporter.Import(net, source, mapping, r.BackboneOnly ? "backbone." : null, allowMissing: r.AllowMissing, dryRun: r.DryRun);
        }
        catch (InvalidDataException e) when (e.Message.Contains("get no value from the file", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{r.Weights}: {e.Message}; --backbone-only takes only the backbone, --allow-missing keeps the rest at initial values", e);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{r.Weights}: {e.Message}", e);
        }
        if (r.DryRun) return report;

        var metadata = new Dictionary<string, string>(options.ToMetadata(r.Model))
        {
            ["import.source"] = Path.GetFileName(r.Weights),
            ["import.format"] = found.ToString().ToLowerInvariant(),
            ["import.map"] = mapping.Name,
            ["import.loaded"] = report.Loaded.Count.ToString(CultureInfo.InvariantCulture),
            ["import.left_at_init"] = report.LeftAtInit.Count.ToString(CultureInfo.InvariantCulture),
        };
        if (mapping.Normalization is { } n)
            foreach (var kv in ExportModelInfo.NormalizationMetadata(n.Mean, n.Std)) metadata[kv.Key] = kv.Value;
        Checkpoint.Save(r.Out!, net.state_dict(), metadata);
        return report;
    }

    private static int? HeadRows(IReadOnlyList<SourceTensor> source, WeightMap map) =>
        source.FirstOrDefault(t => map.Map(t.Name).Target == "fc.weights" && t.Shape.Length == 2) is { } fc
            ? (int)(map.Map(fc.Name).Transpose ? fc.Shape[^1] : fc.Shape[0])
            : null;

    /// <summary>The report: a summary line, then what was left at initial values and what of the file was not used.</summary>
    public static void Print(IAnsiConsole console, ImportReport report, Request r)
    {
        console.WriteLine(report.Summary);
        void Table(string title, IReadOnlyList<(string, string)> rows, string first, string second)
        {
            if (rows.Count == 0) return;
            var t = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title)).AddColumn(first).AddColumn(second);
            // Group identical reasons: a head left alone is one row, not forty.
            foreach (var g in rows.GroupBy(x => x.Item2))
            {
                var names = g.Select(x => x.Item1).ToList();
                t.AddRow(Markup.Escape(names.Count <= 3 ? string.Join(", ", names) : $"{names[0]} … {names[^1]} ({names.Count} tensors)"), Markup.Escape(g.Key));
            }
            console.Write(t.FitTitle());
        }
        if (r.DryRun)
        {
            // What a mapping file's author needs to see: every match, one per line.
            if (report.Loaded.Count > 0)
            {
                var t = new Table().Border(TableBorder.Rounded).Title("matched").AddColumn("source tensor").AddColumn("Slim tensor");
                foreach (var (source, target) in report.Loaded) t.AddRow(Markup.Escape(source), Markup.Escape(target));
                console.Write(t.FitTitle());
            }
            if (report.Misfits.Count > 0)
            {
                var t = new Table().Border(TableBorder.Rounded).Title("do not fit").AddColumn("source tensor → Slim tensor");
                foreach (var m in report.Misfits) t.AddRow(Markup.Escape(m));
                console.Write(t.FitTitle());
            }
        }
        Table("left at initial values", report.LeftAtInit, "Slim tensor", "why");
        Table("not used from the file", report.Unused, "source tensor", "why");
        console.WriteLine(r.DryRun ? "dry run: nothing written" : $"checkpoint: {r.Out}");
    }
}
