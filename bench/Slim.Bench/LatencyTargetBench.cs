using System.Diagnostics;
using System.Globalization;
using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Sensitivity;
using Slim.Export;
using Slim.Models;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Torch;
using Slim.Training;
using static Slim.Torch.torch;

namespace Slim.Bench;

/// <summary>
/// Latency-aware pruning ratios on a full-width YOLOv3 (prune.sensitivity.target_latency_reduction): for each target,
/// the ratios chosen under the latency model of a table measured here, the predicted and the measured ONNX Runtime
/// latency of each round, against the ratios a FLOPs target of the same size would choose. Weights are random and
/// seeded, and the sensitivity curves measure how far the outputs move on two random images (1 / (1 + MSE)), so no
/// data is needed: the point is whether the measured latency lands on the target, which does not depend on accuracy.
/// Usage: Slim.Bench --latency-target [--model yolov3_mobilenet_v1] [--size 320] [--targets 0.2,0.3,0.4]
///   [--params yolo_block.*.conv.weights] [--threads 1] [--out DIR]
/// </summary>
public static class LatencyTargetBench
{
    public static int Run(string[] args)
    {
        string arch = Value(args, "--model", "yolov3_mobilenet_v1");
        int size = int.Parse(Value(args, "--size", "320"), CultureInfo.InvariantCulture);
        var targets = Value(args, "--targets", "0.2,0.3,0.4").Split(',').Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        string prunedParams = Value(args, "--params", "yolo_block.*.conv.weights");
        int threads = int.Parse(Value(args, "--threads", "1"), CultureInfo.InvariantCulture);
        string outDir = Value(args, "--out", Path.Combine(Path.GetTempPath(), "slim-latency-target-bench"));
        if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        Directory.CreateDirectory(outDir);
        set_num_threads(2);
        var clock = Stopwatch.StartNew();

        var family = DetectionFamily.Instance;
        var options = new ModelOptions { InputSize = size, NumClasses = 80 };
        nn.Module Create() { manual_seed(0); var m = family.CreateModel(arch, options); m.eval(); return m; }
        using var model = Create();
        Func<Tensor, IEnumerable<Tensor>> forward = x => family.Forward(model, x);
        var graph = PruneModel.Graph(model, options, forward);
        var parameters = PruningRatios.ExpandParameters(prunedParams, graph);
        var measured = parameters.GroupBy(p => graph.GroupOf(p).Id).Select(g => g.First()).ToList();

        using var scope = NewDisposeScope();
        var images = randn(new long[] { 2, 3, size, size }, new Generator(3));
        Tensor[] reference;
        using (no_grad()) reference = family.Forward(model, images).Select(t => t.detach()).ToArray();
        double Metric(nn.Module m)
        {
            using var s = NewDisposeScope();
            using var _ = no_grad();
            var outs = family.Forward(m, images);
            double mse = outs.Zip(reference).Average(p => (p.First - p.Second).square().mean().item<double>());
            return 1 / (1 + mse);
        }
        var result = SensitivityAnalysis.Run(model, Create, graph, Metric,
            new SensitivityOptions { Parameters = measured, Ratios = new[] { 0.2, 0.4, 0.6, 0.8 }, ResultPath = Path.Combine(outDir, "sensitivity.json") },
            _ => { }, default);
        Console.Error.WriteLine($"sensitivity: {measured.Count} groups × 4 ratios in {clock.Elapsed.TotalSeconds:F0} s");

        var input = randn(new long[] { 1, 3, size, size }, new Generator(1));
        IReadOnlyDictionary<string, OrtTensor> Inputs(string path) => new Dictionary<string, OrtTensor> { ["images"] = OrtTensor.FromTensor(input) };
        var rows = new List<string[]>();
        string P(double v) => (v * 100).ToString("F1", CultureInfo.InvariantCulture);
        string Ms(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
        foreach (var target in targets)
        {
            var dir = Directory.CreateDirectory(Path.Combine(outDir, $"target{target.ToString(CultureInfo.InvariantCulture)}")).FullName;
            var section = new SensitivitySection { TargetLatencyReduction = target, LatencyThreads = threads };
            var choice = PruneLatency.Choose(family, Inputs, arch, options, Create, graph, result, section, new ExportSection(), "l1_norm", 1,
                dir, false, new ConsoleLines(), default);
            var flopsRatios = RatioSelection.ForFlopsReduction(result, graph, target);
            var latency = PruneLatency.Model(LayerLatencyTable.FromJson(File.ReadAllText(Path.Combine(dir, PruneLatency.TableName)), "table"), graph, "table");
            for (int i = 0; i < choice.Rounds.Count; i++)
            {
                var r = choice.Rounds[i];
                rows.Add(new[]
                {
                    P(target), (i + 1).ToString(CultureInfo.InvariantCulture) + (i == choice.ChosenRound ? " *" : ""), P(r.Asked),
                    Ms(r.PredictedMs), P(1 - r.PredictedMs / choice.TableMs), Ms(r.BaselineMs), Ms(r.MeasuredMs), P(r.MeasuredReduction),
                    P(r.MeasuredReduction - target),
                });
                Console.Error.WriteLine(string.Join("  ", rows[^1]));
            }
            Console.Error.WriteLine($"  a FLOPs target of {P(target)} % would be predicted at -{P(1 - latency.Predict(flopsRatios) / latency.TotalMs)} % latency");
        }
        var header = new[] { "target %", "round", "asked %", "predicted ms", "predicted %", "unpruned ms", "pruned ms", "measured %", "miss (pts)" };
        Console.WriteLine($"{arch} at {size}, full width, params {prunedParams}: latency-aware ratios, ONNX Runtime {OrtRunner.RuntimeVersion}, {threads} thread(s), batch 1 " +
                          $"(* = chosen; {clock.Elapsed.TotalMinutes:F1} min)");
        Console.WriteLine("| " + string.Join(" | ", header) + " |");
        Console.WriteLine("|" + string.Concat(header.Select(_ => "---:|")));
        foreach (var r in rows) Console.WriteLine("| " + string.Join(" | ", r) + " |");
        return 0;
    }

    private sealed class ConsoleLines : IProgressSink
    {
        public IProgressTask Start(string description, long total) => new Task();
        public void Info(string message) => Console.Error.WriteLine(message);
        private sealed class Task : IProgressTask
        {
            public void Report(long done, string status) { }
            public void Dispose() { }
        }
    }

    private static string Value(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
