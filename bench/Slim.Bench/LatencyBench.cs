using System.Globalization;
using Slim.Compression.Pruning;
using Slim.Compression.Quantization;
using Slim.Export;
using Slim.Models;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Bench;

/// <summary>
/// ONNX Runtime latency of full-width YOLOv3 detectors in FP32 and INT8, unpruned and pruned with r578, batch 1:
/// the INT8 file is the float twin of a post-training (abs_max) quantization exported in QDQ form, the FP32 file
/// the float model with batch norms folded. Weights are random (seeded): latency does not depend on them, only
/// on the graph ONNX Runtime builds, which the deployability line of each INT8 file reports. Each file is timed
/// in <c>rounds</c> interleaved rounds (warm-up, then the median of <c>runs</c> runs) and the lowest median
/// counts, so a burst of load from elsewhere hurts no model alone.
/// With <c>--align N</c> also r578 with every pruned group's channels rounded to a multiple of N (prune.align), and a
/// second table: aligned against unaligned at (almost) the same FLOPs.
/// Usage: Slim.Bench --latency [--models yolov3_mobilenet_v1,...] [--sizes 320,608] [--threads 1,2] [--runs 25] [--rounds 3] [--align 8] [--out DIR]
/// </summary>
public static class LatencyBench
{
    public static int Run(string[] args)
    {
        var models = List(args, "--models", "yolov3_mobilenet_v1");
        var sizes = List(args, "--sizes", "320").Select(int.Parse).ToArray();
        var threads = List(args, "--threads", "1,2").Select(int.Parse).ToArray();
        int runs = int.Parse(Value(args, "--runs", "25"), CultureInfo.InvariantCulture);
        int rounds = int.Parse(Value(args, "--rounds", "3"), CultureInfo.InvariantCulture);
        int align = int.Parse(Value(args, "--align", "1"), CultureInfo.InvariantCulture);
        string outDir = Value(args, "--out", Path.Combine(Path.GetTempPath(), "slim-latency-bench"));
        var alignedRows = new List<string[]>();
        Directory.CreateDirectory(outDir);
        set_num_threads(2);

        var rows = new List<string[]>();
        foreach (var arch in models)
            foreach (int size in sizes)
            {
                var (files, gflops) = Files(arch, size, outDir, align);
                var ort = OrtRunner.Create();
                using var scope = NewDisposeScope();
                var input = new Dictionary<string, OrtTensor> { ["images"] = OrtTensor.FromTensor(randn(new long[] { 1, 3, size, size }, new Generator(1))) };
                foreach (int t in threads)
                {
                    var best = files.ToDictionary(f => f.Key, _ => double.PositiveInfinity);
                    for (int r = 0; r < rounds; r++)
                        foreach (var (key, path) in files)
                            best[key] = Math.Min(best[key], ort.MeasureLatency(path, input, t, warmup: 5, runs: runs).MedianMs);
                    string F(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
                    string R(double v) => v.ToString("F2", CultureInfo.InvariantCulture);
                    rows.Add(new[]
                    {
                        arch, size.ToString(CultureInfo.InvariantCulture), t.ToString(CultureInfo.InvariantCulture),
                        F(best["fp32"]), F(best["int8"]), R(best["int8"] / best["fp32"]),
                        F(best["r578_fp32"]), F(best["r578_int8"]), R(best["r578_fp32"] / best["fp32"]), R(best["r578_int8"] / best["r578_fp32"]),
                    });
                    Console.Error.WriteLine(string.Join("  ", rows[^1]));
                    if (align > 1)
                    {
                        alignedRows.Add(new[]
                        {
                            arch, size.ToString(CultureInfo.InvariantCulture), t.ToString(CultureInfo.InvariantCulture),
                            gflops["r578"].ToString("F3", CultureInfo.InvariantCulture), gflops["aligned"].ToString("F3", CultureInfo.InvariantCulture),
                            F(best["r578_fp32"]), F(best["aligned_fp32"]), R(best["aligned_fp32"] / best["r578_fp32"]),
                            F(best["r578_int8"]), F(best["aligned_int8"]), R(best["aligned_int8"] / best["r578_int8"]),
                        });
                        Console.Error.WriteLine(string.Join("  ", alignedRows[^1]));
                    }
                }
            }
        var header = new[] { "model", "size", "threads", "FP32 ms", "INT8 ms", "INT8/FP32", "r578 FP32 ms", "r578 INT8 ms", "r578/FP32", "r578 INT8/r578 FP32" };
        Console.WriteLine($"ONNX Runtime {OrtRunner.RuntimeVersion}, batch 1, lowest median of {rounds} rounds × {runs} runs");
        Console.WriteLine("| " + string.Join(" | ", header) + " |");
        Console.WriteLine("|" + string.Concat(header.Select((_, i) => i < 1 ? "---|" : "---:|")));
        foreach (var r in rows) Console.WriteLine("| " + string.Join(" | ", r) + " |");
        if (alignedRows.Count > 0)
        {
            var h2 = new[] { "model", "size", "threads", "r578 GFLOPs", $"r578 ×{align} GFLOPs", "r578 FP32 ms", $"×{align} FP32 ms", "aligned/unaligned",
                "r578 INT8 ms", $"×{align} INT8 ms", "aligned/unaligned" };
            Console.WriteLine();
            Console.WriteLine($"r578 with kept channels aligned to multiples of {align} (prune.align) against r578 as it is");
            Console.WriteLine("| " + string.Join(" | ", h2) + " |");
            Console.WriteLine("|" + string.Concat(h2.Select((_, i) => i < 1 ? "---|" : "---:|")));
            foreach (var r in alignedRows) Console.WriteLine("| " + string.Join(" | ", r) + " |");
        }
        return 0;
    }

    /// <summary>
    /// Exports the four files of one architecture and size (FP32, INT8, r578 FP32, r578 INT8) into outDir, and with
    /// <paramref name="align"/> &gt; 1 the aligned r578 pair; returns them with the pruned models' GFLOPs.
    /// </summary>
    private static (Dictionary<string, string> Files, Dictionary<string, double> Gflops) Files(string arch, int size, string outDir, int align)
    {
        var family = DetectionFamily.Instance;
        var options = new ModelOptions { InputSize = size, NumClasses = 80 };
        var files = new Dictionary<string, string>();
        manual_seed(0);
        using var model = family.CreateModel(arch, options);
        model.eval();
        Export(family, arch, options, model, Path.Combine(outDir, $"{arch}_{size}_fp32.onnx"), files, "fp32");

        // r578 with the L1-norm criterion over the YOLO head, as the model zoo's pruned rows.
        var gflops = new Dictionary<string, double>();
        foreach (var (key, a) in align > 1 ? new[] { ("r578", 1), ("aligned", align) } : new[] { ("r578", 1) })
        {
            manual_seed(0);
            using var pruned = family.CreateModel(arch, options);
            pruned.eval();
            var forward = PruneModel.Forward(pruned);
            var graph = PruneModel.Graph(pruned, options, forward);
            var targets = PruneModel.Targets(graph, string.Join(",", family.DefaultPrunedParameters), family.DefaultPrunedRatios);
            var result = PruneModel.Apply(pruned, options, graph, targets, "l1_norm", forward, a);
            gflops[key] = result.After.PaddleGFlops;
            Export(family, arch, result.Options, pruned, Path.Combine(outDir, $"{arch}_{size}_{key}_fp32.onnx"), files, $"{key}_fp32");
        }
        return (files, gflops);
    }

    /// <summary>Writes the FP32 file of model, then quantizes it (PTQ abs_max on random images) and writes the INT8 file.</summary>
    private static void Export(TaskFamily family, string arch, ModelOptions options, nn.Module model, string fp32Path,
        Dictionary<string, string> files, string key)
    {
        var info = new ExportModelInfo(null, options.InputSize, arch);
        var exportOptions = family.ExportOptions(arch, options, info, new ExportSection());
        Write(fp32Path, OnnxExporter.Export(model, exportOptions, x => family.Forward(model, x)));
        files[key] = fp32Path;

        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        var calibration = Enumerable.Range(0, 2).Select(_ => randn(new long[] { 2, 3, options.InputSize, options.InputSize }, generator)).ToList();
        var quantOptions = new QuantizationOptions { Algorithm = CalibrationAlgo.AbsMax, OutputPatterns = family.OutputLayers };
        var (plan, _) = PostTrainingQuantizer.Run(model, quantOptions, x => family.Forward(model, x), calibration);
        var quant = QuantizationResult.ToFakeQuant(model, QuantMode.Post, CalibrationAlgo.AbsMax);
        using var twin = QuantTwin.Build(family, model, quant, arch, options);
        var int8Path = fp32Path.Replace("_fp32.onnx", "_int8.onnx", StringComparison.Ordinal);
        Write(int8Path, OnnxExporter.Export(twin, exportOptions with
        {
            Quantization = ExportStage.ByModulePath(quant.Layers),
            ActivationQuantization = ExportStage.PointsByPath(quant.Activations),
        }, x => family.Forward(twin, x)));
        files[key.Replace("fp32", "int8", StringComparison.Ordinal)] = int8Path;
        var d = Int8Deployability.Analyze(int8Path, Path.GetDirectoryName(int8Path)!);
        Console.Error.WriteLine($"{Path.GetFileName(int8Path)}: {plan.Quantized.Count()} layers, {d.Summary()}");
        foreach (var l in d.FloatFallbacks) Console.Error.WriteLine($"  float: {l.ModulePath} ({l.RunsAs}): {l.Reason}");
    }

    private static void Write(string path, Onnx.ModelProto proto)
    {
        using var s = File.Create(path);
        Google.Protobuf.MessageExtensions.WriteTo(proto, s);
    }

    private static string Value(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static string[] List(string[] args, string name, string fallback) =>
        Value(args, name, fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>
/// Where the time of one ONNX file goes: ONNX Runtime's profiler over <c>runs</c> runs, summed per operator type
/// (and the ten slowest nodes). Usage: Slim.Bench --profile FILE.onnx [--threads 1] [--runs 20]
/// </summary>
public static class ProfileBench
{
    public static int Run(string[] args)
    {
        int i = Array.IndexOf(args, "--profile");
        string path = args[i + 1];
        int threads = args.Contains("--threads") ? int.Parse(args[Array.IndexOf(args, "--threads") + 1], CultureInfo.InvariantCulture) : 1;
        int runs = args.Contains("--runs") ? int.Parse(args[Array.IndexOf(args, "--runs") + 1], CultureInfo.InvariantCulture) : 20;
        using var so = new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
        so.EnableProfiling = true;
        so.ProfileOutputPathPrefix = Path.Combine(Path.GetTempPath(), "slim-profile");
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(path, so);
        var meta = session.InputMetadata.First();
        var dims = meta.Value.Dimensions.Select(d => d < 0 ? 1 : d).ToArray();
        var data = new float[dims.Aggregate(1, (a, b) => a * b)];
        var rng = new Random(1);
        for (int k = 0; k < data.Length; k++) data[k] = (float)(rng.NextDouble() * 2 - 1);
        var tensor = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(data, dims);
        var inputs = new[] { Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(meta.Key, tensor) };
        for (int k = 0; k < runs; k++) using (session.Run(inputs)) { }
        var file = session.EndProfiling();
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(file));
        var byOp = new Dictionary<string, double>();
        var byNode = new Dictionary<string, double>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
            var name = e.GetProperty("name").GetString()!;
            if (!name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            double us = e.GetProperty("dur").GetDouble();
            var op = e.GetProperty("args").GetProperty("op_name").GetString()!;
            byOp[op] = byOp.GetValueOrDefault(op) + us / runs;
            byNode[name] = byNode.GetValueOrDefault(name) + us / runs;
        }
        File.Delete(file);
        double total = byOp.Values.Sum();
        Console.WriteLine($"{Path.GetFileName(path)}: {total / 1000:F2} ms of kernels per run ({threads} thread(s))");
        foreach (var (op, us) in byOp.OrderByDescending(kv => kv.Value))
            Console.WriteLine($"  {op,-24} {us / 1000,8:F2} ms  {us / total,6:P1}");
        Console.WriteLine("  slowest nodes:");
        foreach (var (n, us) in byNode.OrderByDescending(kv => kv.Value).Take(args.Contains("--all") ? 1000 : 12))
            Console.WriteLine($"    {n,-60} {us / 1000,8:F2} ms");
        return 0;
    }
}
