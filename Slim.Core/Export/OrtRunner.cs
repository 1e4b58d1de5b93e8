using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace Slim.Export;

/// <summary>
/// Runs ONNX models in ONNX Runtime, in process (the Microsoft.ML.OnnxRuntime package, whose native library
/// ships inside it). Each call opens one session for its model and runs every input set through it, so
/// evaluating a dataset costs one model load; every native value and the session are disposed before the
/// call returns.
/// </summary>
public sealed class OrtRunner
{
    /// <summary>Input sets a caller scoring a whole dataset hands to one call of Run: a session load per chunk, bounded memory.</summary>
    public const int InputSetsPerCall = 32;

    // ONNX Runtime's provider names, as OrtEnv.GetAvailableProviders reports them.
    private const string CudaProviderName = "CUDAExecutionProvider";

    private OrtRunner(OrtRunnerOptions options) => Options = options;

    /// <summary>How this runner builds its sessions.</summary>
    public OrtRunnerOptions Options { get; }

    /// <summary>The version of the ONNX Runtime library loaded (e.g. "1.31.1").</summary>
    public static string RuntimeVersion => OrtEnv.Instance().GetVersionString();

    /// <summary>A runner with <paramref name="options"/> (default: CPU, every optimization); throws <see cref="OrtUnavailableException"/> when ONNX Runtime cannot load or lacks the provider.</summary>
    public static OrtRunner Create(OrtRunnerOptions? options = null)
    {
        if (!TryCreate(options, out var runner, out var reason)) throw new OrtUnavailableException(reason);
        return runner!;
    }

    /// <summary>Like <see cref="Create"/> with the default options, but reports why ONNX Runtime is unusable instead of throwing.</summary>
    public static bool TryCreate(out OrtRunner? runner, out string reason) => TryCreate(null, out runner, out reason);

    /// <summary>Like <see cref="Create"/>, but reports why ONNX Runtime is unusable instead of throwing.</summary>
    public static bool TryCreate(OrtRunnerOptions? options, out OrtRunner? runner, out string reason)
    {
        options ??= OrtRunnerOptions.Default;
        runner = null;
        string[] providers;
        try
        {
            providers = OrtEnv.Instance().GetAvailableProviders();
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or BadImageFormatException or OnnxRuntimeException)
        {
            reason = $"ONNX Runtime is unavailable: its native library (libonnxruntime.so from the Microsoft.ML.OnnxRuntime package) could not be loaded: {FirstLine(e)}";
            return false;
        }
        if (options.ExecutionProvider == OrtExecutionProvider.Cuda && !providers.Contains(CudaProviderName))
        {
            reason = CudaUnavailable($"this ONNX Runtime {SafeVersion()} offers only {string.Join(", ", providers)}");
            return false;
        }
        runner = new OrtRunner(options);
        reason = "";
        return true;
    }

    /// <summary>Runs the model once per input set (input name → tensor) with intra-op <paramref name="threads"/>; returns the outputs by name, per set.</summary>
    /// <param name="modelPath">The .onnx file.</param>
    /// <param name="inputSets">One dictionary of named inputs per run; each must name every input of the model, and nothing else.</param>
    /// <param name="threads">ONNX Runtime's intra-op thread count.</param>
    /// <param name="optimizedModelPath">When set, ONNX Runtime writes the graph it actually runs (after fusions) there.</param>
    public IReadOnlyList<IReadOnlyDictionary<string, OrtTensor>> Run(string modelPath, IReadOnlyList<IReadOnlyDictionary<string, OrtTensor>> inputSets,
        int threads = 1, string? optimizedModelPath = null)
    {
        ArgumentNullException.ThrowIfNull(inputSets);
        if (inputSets.Count == 0) return Array.Empty<IReadOnlyDictionary<string, OrtTensor>>();
        using var session = OpenSession(modelPath, threads, optimizedModelPath);
        var results = new List<IReadOnlyDictionary<string, OrtTensor>>(inputSets.Count);
        for (int i = 0; i < inputSets.Count; i++)
            results.Add(RunOnce(session, modelPath, inputSets[i], inputSets.Count == 1 ? "" : $" (input set {i})"));
        return results;
    }

    /// <summary>Opens the model with this runner's options (optimization level included) and writes the graph ONNX Runtime will run to <paramref name="optimizedModelPath"/>.</summary>
    public void WriteOptimized(string modelPath, string optimizedModelPath, int threads = 1)
    {
        using var session = OpenSession(modelPath, threads, optimizedModelPath);
    }

    /// <summary>Runs the model on one input set.</summary>
    public IReadOnlyDictionary<string, OrtTensor> Run(string modelPath, IReadOnlyDictionary<string, OrtTensor> inputs, int threads = 1) =>
        Run(modelPath, new[] { inputs }, threads)[0];

    /// <summary>Times the model on one input set: <paramref name="warmup"/> untimed runs, then <paramref name="runs"/> timed ones (each one session run, outputs received; the inputs are handed over once).</summary>
    public OrtLatency MeasureLatency(string modelPath, IReadOnlyDictionary<string, OrtTensor> inputs, int threads = 1, int warmup = 5, int runs = 20)
    {
        if (warmup < 0 || runs < 1) throw new ArgumentException($"OrtRunner.MeasureLatency: warmup must be ≥ 0 and runs ≥ 1 (got {warmup}, {runs})");
        using var session = OpenSession(modelPath, threads, null);
        var feeds = Feeds(session, modelPath, inputs, "");
        try
        {
            using var runOptions = new RunOptions();
            for (int i = 0; i < warmup; i++)
                using (Run(session, modelPath, runOptions, feeds, " (warm-up)")) { }
            var times = new double[runs];
            for (int i = 0; i < runs; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                using (Run(session, modelPath, runOptions, feeds, "")) { }
                times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            var sorted = times.Order().ToArray();
            return new OrtLatency(threads, warmup, runs, Quantile(sorted, 0.5), times.Average(), Quantile(sorted, 0.1), Quantile(sorted, 0.9), sorted[0], sorted[^1]);
        }
        finally
        {
            foreach (var v in feeds.Values) v.Dispose();
        }
    }

    /// <summary>
    /// Where the time of one run goes, layer by layer: ONNX Runtime's profiler over <paramref name="runs"/> runs (after
    /// <paramref name="warmup"/>), every kernel's time averaged per run and summed per Slim module path (a node exported
    /// from a layer is named "path/Op", and ONNX Runtime's fused nodes keep that prefix); kernels of no layer (concat,
    /// resize, the detections graph) are summed under "(other)".
    /// </summary>
    public LayerLatencyTable MeasureLayers(string modelPath, IReadOnlyDictionary<string, OrtTensor> inputs, int threads = 1, int warmup = 5, int runs = 20)
    {
        if (warmup < 0 || runs < 1) throw new ArgumentException($"OrtRunner.MeasureLayers: warmup must be ≥ 0 and runs ≥ 1 (got {warmup}, {runs})");
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"ONNX model not found: {modelPath}", modelPath);
        var prefix = Path.Combine(Path.GetTempPath(), $"slim-profile-{Environment.ProcessId}-{Guid.NewGuid():N}");
        using var so = CreateSessionOptions(threads, null);
        using var session = OpenWith(modelPath, so, () => { so.EnableProfiling = true; so.ProfileOutputPathPrefix = prefix; });
        var feeds = Feeds(session, modelPath, inputs, "");
        string? file = null;
        try
        {
            using var runOptions = new RunOptions();
            for (int i = 0; i < warmup; i++)
                using (Run(session, modelPath, runOptions, feeds, " (warm-up)")) { }
            var wall = new double[runs];
            for (int i = 0; i < runs; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                using (Run(session, modelPath, runOptions, feeds, "")) { }
                wall[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            file = session.EndProfiling();
            return LayerLatencyTable.FromProfile(File.ReadAllText(file), Path.GetFileName(modelPath), threads, warmup, runs, Quantile(wall.Order().ToArray(), 0.5),
                LayerLatencyTable.Resolver(OnnxExporter.Load(modelPath).Graph));
        }
        finally
        {
            foreach (var v in feeds.Values) v.Dispose();
            if (file is not null && File.Exists(file)) File.Delete(file);
        }
    }

    private static InferenceSession OpenWith(string modelPath, SessionOptions so, Action configure)
    {
        configure();
        try
        {
            return new InferenceSession(modelPath, so);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OrtException($"ONNX Runtime could not load {modelPath}: {FirstLine(e)}");
        }
    }

    /// <summary>The session options every session of this runner gets, with <paramref name="threads"/> intra-op threads; the caller disposes them.</summary>
    internal SessionOptions CreateSessionOptions(int threads, string? optimizedModelPath)
    {
        if (threads < 1) throw new ArgumentException($"OrtRunner: threads must be at least 1, got {threads}");
        var so = new SessionOptions();
        try
        {
            so.IntraOpNumThreads = threads;
            so.InterOpNumThreads = 1;
            so.ExecutionMode = ExecutionMode.ORT_SEQUENTIAL;
            so.GraphOptimizationLevel = Options.Optimization switch
            {
                OrtOptimizationLevel.Disabled => GraphOptimizationLevel.ORT_DISABLE_ALL,
                OrtOptimizationLevel.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                OrtOptimizationLevel.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
            };
            // Warnings (e.g. unused initializers) would land on the console of every verb; errors arrive as exceptions.
            so.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
            if (optimizedModelPath is not null) so.OptimizedModelFilePath = Path.GetFullPath(optimizedModelPath);
            if (Options.ExecutionProvider == OrtExecutionProvider.Cuda) AppendCuda(so, Options.DeviceId);
            return so;
        }
        catch
        {
            so.Dispose();
            throw;
        }
    }

    /// <summary>Adds the CUDA provider; on a CPU build of ONNX Runtime that fails, and the error says a GPU build is needed.</summary>
    internal static void AppendCuda(SessionOptions so, int deviceId)
    {
        try
        {
            so.AppendExecutionProvider_CUDA(deviceId);
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            throw new OrtUnavailableException(CudaUnavailable(FirstLine(e)));
        }
    }

    private InferenceSession OpenSession(string modelPath, int threads, string? optimizedModelPath)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"ONNX model not found: {modelPath}", modelPath);
        using var so = CreateSessionOptions(threads, optimizedModelPath);
        try
        {
            return new InferenceSession(modelPath, so);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OrtException($"ONNX Runtime could not load {modelPath}: {FirstLine(e)}");
        }
    }

    /// <summary>One run, its outputs copied to managed arrays.</summary>
    private static Dictionary<string, OrtTensor> RunOnce(InferenceSession session, string modelPath, IReadOnlyDictionary<string, OrtTensor> inputs, string where)
    {
        var feeds = Feeds(session, modelPath, inputs, where);
        try
        {
            using var runOptions = new RunOptions();
            using var outputs = Run(session, modelPath, runOptions, feeds, where);
            var result = new Dictionary<string, OrtTensor>(StringComparer.Ordinal);
            int k = 0;
            foreach (var value in outputs)
            {
                var name = session.OutputNames[k++];
                result[name] = OrtTensor.FromOrtValue(value, $"{modelPath}: output '{name}'");
            }
            return result;
        }
        finally
        {
            foreach (var v in feeds.Values) v.Dispose();
        }
    }

    /// <summary>The inputs as ONNX Runtime values over their arrays, after checking their names against the model's; the caller disposes them.</summary>
    private static Dictionary<string, OrtValue> Feeds(InferenceSession session, string modelPath, IReadOnlyDictionary<string, OrtTensor> inputs, string where)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        CheckInputNames(session, modelPath, inputs, where);
        var feeds = new Dictionary<string, OrtValue>(inputs.Count, StringComparer.Ordinal);
        try
        {
            foreach (var (name, tensor) in inputs) feeds[name] = tensor.ToOrtValue();
            return feeds;
        }
        catch
        {
            foreach (var v in feeds.Values) v.Dispose();
            throw;
        }
    }

    private static IDisposableReadOnlyCollection<OrtValue> Run(InferenceSession session, string modelPath, RunOptions runOptions, Dictionary<string, OrtValue> feeds, string where)
    {
        try
        {
            return session.Run(runOptions, feeds, session.OutputNames);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OrtException($"ONNX Runtime failed running {modelPath}{where}: {FirstLine(e)}");
        }
    }

    // ONNX Runtime's own messages for these ("Invalid input name", "Missing Input") do not list what the model expects.
    private static void CheckInputNames(InferenceSession session, string modelPath, IReadOnlyDictionary<string, OrtTensor> inputs, string where)
    {
        var expected = session.InputNames;
        foreach (var name in inputs.Keys)
            if (!expected.Contains(name))
                throw new OrtException($"{modelPath}{where}: the model has no input '{name}'; its inputs are: {string.Join(", ", expected)}");
        foreach (var name in expected)
            if (!inputs.ContainsKey(name))
                throw new OrtException($"{modelPath}{where}: input '{name}' was not given (given: {(inputs.Count == 0 ? "none" : string.Join(", ", inputs.Keys))}); the model's inputs are: {string.Join(", ", expected)}");
    }

    private static string CudaUnavailable(string detail) =>
        $"ONNX Runtime execution provider 'cuda' is unavailable: {detail.TrimEnd('.')}. CUDA needs a GPU build of ONNX Runtime " +
        "(the Microsoft.ML.OnnxRuntime.Gpu package in place of Microsoft.ML.OnnxRuntime, with CUDA and cuDNN installed); use the cpu provider otherwise";

    private static string SafeVersion()
    {
        try
        {
            return RuntimeVersion;
        }
        catch (OnnxRuntimeException)
        {
            return "";
        }
    }

    private static string FirstLine(Exception e)
    {
        var m = e is TypeInitializationException { InnerException: { } inner } ? inner.Message : e.Message;
        return m.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? e.GetType().Name;
    }

    /// <summary>The q-quantile of sorted values, linearly interpolated (0.5: the median).</summary>
    internal static double Quantile(double[] sorted, double q)
    {
        double pos = (sorted.Length - 1) * q;
        int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }
}
