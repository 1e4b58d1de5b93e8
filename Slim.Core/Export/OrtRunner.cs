using System.Diagnostics;
using System.Text.Json;

namespace Slim.Export;

/// <summary>
/// Runs ONNX models in ONNX Runtime's CPU provider through tools/ort/run.js (Node.js with the
/// onnxruntime-node package, whose native library ships inside the npm package). One process serves
/// a whole list of input sets, so evaluating a dataset costs one model load.
/// </summary>
public sealed class OrtRunner
{
    /// <summary>The command that installs what this runner needs; named in every "not installed" error.</summary>
    public const string SetupCommand = "./build.sh setup";

    /// <summary>Environment variable that points at the folder holding run.js and node_modules (default: tools/ort of the repository).</summary>
    public const string OrtDirVariable = "SLIM_ORT_DIR";

    /// <summary>Environment variable naming the node executable (default: node on PATH).</summary>
    public const string NodeVariable = "SLIM_NODE";

    private OrtRunner(string node, string ortDir)
    {
        NodePath = node;
        OrtDir = ortDir;
    }

    /// <summary>The node executable used.</summary>
    public string NodePath { get; }

    /// <summary>The folder holding run.js and node_modules/onnxruntime-node.</summary>
    public string OrtDir { get; }

    /// <summary>Finds node and tools/ort; throws <see cref="OrtUnavailableException"/> saying what is missing and how to install it.</summary>
    public static OrtRunner Create()
    {
        if (!TryCreate(out var runner, out var reason)) throw new OrtUnavailableException(reason);
        return runner!;
    }

    /// <summary>Like <see cref="Create"/>, but reports what is missing instead of throwing.</summary>
    public static bool TryCreate(out OrtRunner? runner, out string reason)
    {
        runner = null;
        var node = FindNode();
        if (node is null)
        {
            reason = $"ONNX Runtime is unavailable: Node.js (node) was not found on PATH or in ${NodeVariable}; run {SetupCommand}";
            return false;
        }
        var dir = FindOrtDir(out var looked);
        if (dir is null)
        {
            reason = $"ONNX Runtime is unavailable: tools/ort/run.js was not found (looked in {looked}; set ${OrtDirVariable}); run {SetupCommand}";
            return false;
        }
        if (!File.Exists(Path.Combine(dir, "node_modules", "onnxruntime-node", "package.json")))
        {
            reason = $"ONNX Runtime is unavailable: the onnxruntime-node package is not installed in {dir}/node_modules; run {SetupCommand}";
            return false;
        }
        runner = new OrtRunner(node, dir);
        reason = "";
        return true;
    }

    /// <summary>Runs the model once per input set (input name → tensor) with intra-op <paramref name="threads"/>; returns the outputs by name, per set.</summary>
    /// <param name="modelPath">The .onnx file.</param>
    /// <param name="inputSets">One dictionary of named inputs per run.</param>
    /// <param name="threads">ONNX Runtime's intra-op thread count.</param>
    /// <param name="optimizedModelPath">When set, ONNX Runtime writes the graph it actually runs (after fusions) there.</param>
    public IReadOnlyList<IReadOnlyDictionary<string, OrtTensor>> Run(string modelPath, IReadOnlyList<IReadOnlyDictionary<string, OrtTensor>> inputSets,
        int threads = 1, string? optimizedModelPath = null)
    {
        if (inputSets.Count == 0) return Array.Empty<IReadOnlyDictionary<string, OrtTensor>>();
        CheckModel(modelPath, threads);
        var dir = Directory.CreateTempSubdirectory("slim-ort-");
        try
        {
            var input = Path.Combine(dir.FullName, "inputs.bin");
            var output = Path.Combine(dir.FullName, "outputs.bin");
            OrtTensorFile.Write(input, inputSets);
            var args = new List<string> { "run", "--model", Path.GetFullPath(modelPath), "--input", input, "--output", output, "--threads", threads.ToString() };
            if (optimizedModelPath is not null) args.AddRange(new[] { "--optimized-model", Path.GetFullPath(optimizedModelPath) });
            Execute(args);
            var result = OrtTensorFile.Read(output);
            if (result.Count != inputSets.Count)
                throw new OrtException($"ONNX Runtime returned {result.Count} output sets for {inputSets.Count} input sets");
            return result;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Runs the model on one input set.</summary>
    public IReadOnlyDictionary<string, OrtTensor> Run(string modelPath, IReadOnlyDictionary<string, OrtTensor> inputs, int threads = 1) =>
        Run(modelPath, new[] { inputs }, threads)[0];

    /// <summary>Times the model on one input set: <paramref name="warmup"/> untimed runs, then <paramref name="runs"/> timed ones.</summary>
    public OrtLatency MeasureLatency(string modelPath, IReadOnlyDictionary<string, OrtTensor> inputs, int threads = 1, int warmup = 5, int runs = 20)
    {
        CheckModel(modelPath, threads);
        if (warmup < 0 || runs < 1) throw new ArgumentException($"OrtRunner.MeasureLatency: warmup must be ≥ 0 and runs ≥ 1 (got {warmup}, {runs})");
        var dir = Directory.CreateTempSubdirectory("slim-ort-");
        try
        {
            var input = Path.Combine(dir.FullName, "inputs.bin");
            OrtTensorFile.Write(input, new[] { inputs });
            var stdout = Execute(new List<string> { "latency", "--model", Path.GetFullPath(modelPath), "--input", input,
                "--threads", threads.ToString(), "--warmup", warmup.ToString(), "--runs", runs.ToString() });
            var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
                ?? throw new OrtException("ONNX Runtime latency run printed nothing");
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            return new OrtLatency(r.GetProperty("threads").GetInt32(), r.GetProperty("warmup").GetInt32(), r.GetProperty("runs").GetInt32(),
                r.GetProperty("median_ms").GetDouble(), r.GetProperty("mean_ms").GetDouble(), r.GetProperty("p90_ms").GetDouble(),
                r.GetProperty("min_ms").GetDouble(), r.GetProperty("max_ms").GetDouble());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static void CheckModel(string modelPath, int threads)
    {
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"ONNX model not found: {modelPath}", modelPath);
        if (threads < 1) throw new ArgumentException($"OrtRunner: threads must be at least 1, got {threads}");
    }

    private string Execute(List<string> args)
    {
        var psi = new ProcessStartInfo(NodePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = OrtDir,
        };
        psi.ArgumentList.Add(Path.Combine(OrtDir, "run.js"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new OrtUnavailableException($"could not start {NodePath}; run {SetupCommand}");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var err = stderr.Result.Trim();
        if (p.ExitCode != 0)
        {
            var first = err.Split('\n').FirstOrDefault(l => l.Length > 0) ?? $"exit code {p.ExitCode}";
            throw new OrtException($"ONNX Runtime failed ({args[0]} {args[2]}): {first}");
        }
        return stdout;
    }

    private static string? FindNode()
    {
        var env = Environment.GetEnvironmentVariable(NodeVariable);
        if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? env : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "node");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static string? FindOrtDir(out string looked)
    {
        var env = Environment.GetEnvironmentVariable(OrtDirVariable);
        if (!string.IsNullOrEmpty(env))
        {
            looked = env;
            return File.Exists(Path.Combine(env, "run.js")) ? Path.GetFullPath(env) : null;
        }
        var starts = new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() };
        var seen = new List<string>();
        foreach (var start in starts)
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                var candidate = Path.Combine(d.FullName, "tools", "ort");
                if (File.Exists(Path.Combine(candidate, "run.js")))
                {
                    looked = candidate;
                    return candidate;
                }
            }
            seen.Add(start + " and its parents");
        }
        looked = string.Join("; ", seen);
        return null;
    }
}
