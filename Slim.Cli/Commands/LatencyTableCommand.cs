using System.CommandLine;
using System.Globalization;
using Slim.Export;
using Slim.Pipeline;
using Slim.Torch;
using Spectre.Console;

namespace Slim.Cli.Commands;

/// <summary>`slim latency-table`: where one run of an ONNX model goes on this machine, layer by layer.</summary>
public static class LatencyTableCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "The ONNX model (as slim export writes it; its image input is filled with random values)." };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads.", DefaultValueFactory = _ => 1 };
        var runs = new Option<int>("--runs") { Description = "Profiled runs the times are averaged over.", DefaultValueFactory = _ => 20 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs first.", DefaultValueFactory = _ => 5 };
        var outPath = new Option<string?>("--out") { Description = "Write the table as JSON here (to carry from the target machine)." };
        var cmd = new Command("latency-table", """
            Profile an ONNX model in ONNX Runtime on this machine and print the kernel time per layer (Slim module
            path; kernels of no layer as "(other)"), slowest first, with the run's median wall time. Run it on the
            machine the model is for and keep the JSON: latency-aware compression weighs layers by it.

            Examples:
              slim latency-table runs/qs/export/model_fp32.onnx --threads 1 --out latency_fp32.json
              slim latency-table runs/qs/export/model_int8.onnx --runs 50
            """);
        cmd.Arguments.Add(model);
        foreach (var o in new Option[] { threads, runs, warmup, outPath }) cmd.Options.Add(o);
        cmd.SetAction(p => CliRunner.Run(() => Execute(p.GetValue(model)!, p.GetValue(threads), p.GetValue(runs), p.GetValue(warmup), p.GetValue(outPath), AnsiConsole.Console)));
        return cmd;
    }

    public static ExitCode Execute(string model, int threads, int runs, int warmup, string? outPath, IAnsiConsole console)
    {
        if (threads < 1) throw new UsageException($"--threads {threads}: expected 1 or more");
        if (runs < 1) throw new UsageException($"--runs {runs}: expected 1 or more");
        if (warmup < 0) throw new UsageException($"--warmup {warmup}: expected 0 or more");
        if (!File.Exists(model)) throw new FileNotFoundException($"{model}: no such ONNX model", model);
        var inputs = RandomInputs(model);
        var table = OrtRunner.Create().MeasureLayers(model, inputs, threads, warmup, runs);
        var ci = CultureInfo.InvariantCulture;
        var t = new Table().Border(TableBorder.Rounded)
            .Title(Markup.Escape(string.Create(ci, $"{table.Model}: {table.KernelMs:F3} ms of kernels per run (median wall {table.MedianMs:F3} ms), {threads} thread(s), {runs} runs")))
            .AddColumn("layer").AddColumn("operator").AddColumn(new TableColumn("ms").RightAligned()).AddColumn(new TableColumn("share").RightAligned());
        foreach (var l in table.Layers)
            t.AddRow(Markup.Escape(l.ModulePath), Markup.Escape(l.Operator), LayerLatencyTable.Ms2(l.Ms), (l.Ms / table.KernelMs).ToString("P1", ci));
        console.Write(t.FitTitle());
        if (outPath is not null)
        {
            AtomicFile.WriteAllText(outPath, table.ToJson());
            console.WriteLine($"table: {outPath}");
        }
        return ExitCode.Ok;
    }

    // Every graph input that is not a weight, as random float values of its recorded shape (a dynamic dimension: 1).
    private static Dictionary<string, OrtTensor> RandomInputs(string model)
    {
        var graph = OnnxExporter.Load(model).Graph;
        var weights = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var result = new Dictionary<string, OrtTensor>(StringComparer.Ordinal);
        using var scope = torch.NewDisposeScope();
        var g = new Generator(1);
        foreach (var input in graph.Input.Where(i => !weights.Contains(i.Name)))
        {
            var type = input.Type?.TensorType;
            if (type is null || type.ElemType != (int)Onnx.TensorProto.Types.DataType.Float)
                throw new InvalidDataException($"{model}: input '{input.Name}' is not a float tensor; latency-table fills float image inputs only");
            var dims = type.Shape?.Dim.Select(d => d.HasDimValue && d.DimValue > 0 ? d.DimValue : 1).ToArray() ?? [];
            result[input.Name] = OrtTensor.FromTensor(torch.rand(dims, g));
        }
        if (result.Count == 0) throw new InvalidDataException($"{model}: the graph has no input");
        return result;
    }
}
