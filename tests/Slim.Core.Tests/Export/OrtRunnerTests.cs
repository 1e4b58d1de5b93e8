using Microsoft.ML.OnnxRuntime;
using Onnx;
using Slim.Export;
using Slim.Torch;
using Xunit.Abstractions;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Export;

public class OrtRunnerTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = ExportTestSupport.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void EveryElementTypeGoesInAndComesBackUnchanged()
    {
        var inputs = new Dictionary<string, OrtTensor>
        {
            ["f"] = new(new[] { 1.5f, -2f, 3.25f, 0f, 1e-8f, -7f }, 2, 3),
            ["d"] = new(new[] { Math.PI }, 1),
            ["l"] = new(new[] { long.MinValue, 5L }, 2),
            ["i"] = new(new[] { -1, 2 }, 2),
            ["i8"] = new(new sbyte[] { -128, 127 }, 2),
            ["u8"] = new(new byte[] { 0, 255, 7 }, 3),
            ["b"] = new(new[] { true, false }, 1, 2),
        };
        var path = Path.Combine(_dir, "identity.onnx");
        WriteIdentityModel(path, inputs);
        var outs = OrtRunner.Create().Run(path, inputs);
        Assert.Equal(inputs.Keys.Select(k => k + "_out").Order(), outs.Keys.Order());
        foreach (var (k, t) in inputs)
        {
            var back = outs[k + "_out"];
            Assert.Equal(t.ElementType, back.ElementType);
            Assert.Equal(t.Shape, back.Shape);
            Assert.Equal(t.Data.Cast<object>(), back.Data.Cast<object>());
        }
    }

    [Fact]
    public void OrtTensorRejectsShapeThatDoesNotMatchData()
    {
        var ex = Assert.Throws<ArgumentException>(() => new OrtTensor(new float[5], 2, 3));
        Assert.Contains("[2, 3]", ex.Message);
    }

    [Fact]
    public void ManyInputSetsInOneCallMatchLibtorchAndLatencyIsMeasured()
    {
        using var scope = NewDisposeScope();
        var (net, path, inputs) = TinyConvModel();
        var ort = OrtRunner.Create();
        using var _ = no_grad();
        var results = ort.Run(path, inputs.Select(x => (IReadOnlyDictionary<string, OrtTensor>)Feed(x)).ToList(), threads: 2);
        Assert.Equal(inputs.Length, results.Count);
        for (int i = 0; i < inputs.Length; i++)
        {
            using var got = results[i]["logits"].ToTensor();
            Assert.True(got.allclose(net.call(inputs[i]), 1e-4, 1e-5), $"input set {i} differs from libtorch");
        }

        var latency = ort.MeasureLatency(path, Feed(inputs[0]), threads: 1, warmup: 2, runs: 7);
        output.WriteLine(latency.ToString());
        Assert.Equal(1, latency.Threads);
        Assert.Equal(2, latency.Warmup);
        Assert.Equal(7, latency.Runs);
        Assert.True(latency.MinMs > 0 && latency.MinMs <= latency.P10Ms && latency.P10Ms <= latency.MedianMs
            && latency.MedianMs <= latency.P90Ms && latency.P90Ms <= latency.MaxMs, latency.ToString());
        Assert.InRange(latency.MeanMs, latency.MinMs, latency.MaxMs);
        net.Dispose();
    }

    [Fact]
    public void InputNamesAreCheckedAndNamedInTheError()
    {
        using var scope = NewDisposeScope();
        var (net, path, inputs) = TinyConvModel();
        net.Dispose();
        var ort = OrtRunner.Create();
        var wrong = Assert.Throws<OrtException>(() => ort.Run(path, new Dictionary<string, OrtTensor> { ["images"] = OrtTensor.FromTensor(inputs[0]) }));
        Assert.Contains("no input 'images'", wrong.Message);
        Assert.Contains("its inputs are: x", wrong.Message);
        Assert.Contains(path, wrong.Message);

        var missing = Assert.Throws<OrtException>(() => ort.Run(path, new Dictionary<string, OrtTensor>()));
        Assert.Contains("input 'x' was not given", missing.Message);

        // In a list, the failing set is named; ONNX Runtime's own errors (here a wrong element type) come back wrapped.
        var sets = new[] { Feed(inputs[0]), new Dictionary<string, OrtTensor> { ["x"] = new(new double[3 * 16 * 16], 1, 3, 16, 16) } };
        var type = Assert.Throws<OrtException>(() => ort.Run(path, sets));
        Assert.Contains("input set 1", type.Message);
        Assert.Contains(path, type.Message);
        Assert.DoesNotContain('\n', type.Message);
    }

    [Fact]
    public void MissingOrCorruptModelFileGivesOneLineNamingTheFile()
    {
        var ort = OrtRunner.Create();
        var x = new Dictionary<string, OrtTensor> { ["x"] = new(new float[4], 1, 4) };
        var nowhere = Path.Combine(_dir, "nowhere.onnx");
        Assert.Contains(nowhere, Assert.Throws<FileNotFoundException>(() => ort.Run(nowhere, x)).Message);

        var corrupt = Path.Combine(_dir, "corrupt.onnx");
        File.WriteAllBytes(corrupt, new byte[] { 0x08, 0xff, 0xff, 0x13, 0x37, 0x00, 0x42 });
        var ex = Assert.Throws<OrtException>(() => ort.Run(corrupt, x));
        output.WriteLine(ex.Message);
        Assert.StartsWith($"ONNX Runtime could not load {corrupt}: ", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.Contains(corrupt, Assert.Throws<OrtException>(() => ort.MeasureLatency(corrupt, x)).Message);
    }

    [Fact]
    public void ThreadsAndOptimizationLevelReachTheSession()
    {
        using var scope = NewDisposeScope();
        var (net, path, inputs) = TinyConvModel();
        net.Dispose();
        var all = OrtRunner.Create();
        var none = OrtRunner.Create(new OrtRunnerOptions { Optimization = OrtOptimizationLevel.Disabled });
        Assert.Equal(OrtOptimizationLevel.All, all.Options.Optimization);
        using (var so = none.CreateSessionOptions(3, null))
        {
            Assert.Equal(3, so.IntraOpNumThreads);
            Assert.Equal(1, so.InterOpNumThreads);
            Assert.Equal(ExecutionMode.ORT_SEQUENTIAL, so.ExecutionMode);
            Assert.Equal(GraphOptimizationLevel.ORT_DISABLE_ALL, so.GraphOptimizationLevel);
        }
        using (var so = all.CreateSessionOptions(1, null)) Assert.Equal(GraphOptimizationLevel.ORT_ENABLE_ALL, so.GraphOptimizationLevel);
        Assert.Contains("threads must be at least 1", Assert.Throws<ArgumentException>(() => all.Run(path, Feed(inputs[0]), threads: 0)).Message);

        // The graph ONNX Runtime runs: unoptimized it keeps the Conv → Relu pair; fully optimized the Relu is fused away.
        var keptPath = Path.Combine(_dir, "kept.onnx");
        var fusedPath = Path.Combine(_dir, "fused.onnx");
        var sets = inputs.Select(x => (IReadOnlyDictionary<string, OrtTensor>)Feed(x)).ToList();
        var plain = none.Run(path, sets, 1, keptPath);
        var optimized = all.Run(path, sets, 1, fusedPath);
        var keptOps = OnnxExporter.Load(keptPath).Graph.Node.Select(n => n.OpType).ToList();
        var fusedOps = OnnxExporter.Load(fusedPath).Graph.Node.Select(n => n.OpType).ToList();
        output.WriteLine($"disabled: {string.Join(", ", keptOps)}; all: {string.Join(", ", fusedOps)}");
        Assert.Contains("Relu", keptOps);
        Assert.DoesNotContain("Relu", fusedOps);
        // Same arithmetic either way (fusion only reorders float work slightly).
        for (int i = 0; i < sets.Count; i++)
            Assert.True(ExportTestSupport.MaxAbsDiff(plain[i]["logits"].ToFloatArray(), optimized[i]["logits"].ToFloatArray()) <= 1e-5f, $"set {i}");
    }

    [Fact]
    public void ExecutionProvidersAreNamedAndCudaNeedsAGpuBuild()
    {
        Assert.Equal(OrtExecutionProvider.Cuda, OrtRunnerOptions.ParseExecutionProvider("CUDA"));
        Assert.Equal(OrtExecutionProvider.Cpu, OrtRunnerOptions.ParseExecutionProvider("cpu"));
        var unknown = Assert.Throws<OrtException>(() => OrtRunnerOptions.ParseExecutionProvider("tpu"));
        Assert.Equal("unknown ONNX Runtime execution provider 'tpu'; expected one of: cpu, cuda", unknown.Message);
        Assert.Throws<OrtException>(() => OrtRunnerOptions.ParseExecutionProvider("1"));
        Assert.Equal(OrtOptimizationLevel.Disabled, OrtRunnerOptions.ParseOptimization("disabled"));
        Assert.Contains("expected one of: disabled, basic, extended, all", Assert.Throws<OrtException>(() => OrtRunnerOptions.ParseOptimization("max")).Message);

        // The project references the CPU package: asking for CUDA fails up front, saying what would be needed.
        var cuda = new OrtRunnerOptions { ExecutionProvider = OrtExecutionProvider.Cuda };
        Assert.DoesNotContain("CUDAExecutionProvider", OrtEnv.Instance().GetAvailableProviders());
        Assert.False(OrtRunner.TryCreate(cuda, out var none, out var reason));
        Assert.Null(none);
        var ex = Assert.Throws<OrtUnavailableException>(() => OrtRunner.Create(cuda));
        Assert.Equal(reason, ex.Message);
        Assert.Contains("GPU build of ONNX Runtime", ex.Message);
        Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu", ex.Message);
        Assert.IsAssignableFrom<SlimException>(ex);
        // Past that check (a runner made for the CPU), ONNX Runtime's own refusal becomes the same error.
        using (var so = new SessionOptions())
        {
            var append = Assert.Throws<OrtUnavailableException>(() => OrtRunner.AppendCuda(so, 0));
            output.WriteLine(append.Message);
            Assert.Contains("GPU build of ONNX Runtime", append.Message);
        }
        Assert.True(OrtRunner.TryCreate(out var cpu, out var empty) && cpu is not null && empty == "");
        output.WriteLine($"ONNX Runtime {OrtRunner.RuntimeVersion}: {reason}");
    }

    /// <summary>A Conv → ReLU → pool → Linear net exported by our exporter, and five input batches of sizes 1–5.</summary>
    private (nn.Module<Tensor, Tensor> Net, string Path, Tensor[] Inputs) TinyConvModel()
    {
        var g = new Generator(21);
        var net = nn.Sequential(nn.Conv2d(3, 4, 3, padding: 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2));
        var path = Path.Combine(_dir, "m.onnx");
        OnnxExporter.ExportToFile(net, path, new OnnxExportOptions { InputShape = new long[] { 3, 16, 16 }, InputName = "x", OutputNames = new[] { "logits" } });
        net.eval();
        var inputs = Enumerable.Range(0, 5).Select(i => randn(new long[] { i + 1, 3, 16, 16 }, g)).ToArray();
        return (net, path, inputs);
    }

    private static Dictionary<string, OrtTensor> Feed(Tensor x) => new() { ["x"] = OrtTensor.FromTensor(x) };

    /// <summary>A graph of one Identity per input (name → name_out), of each input's element type and shape.</summary>
    private static void WriteIdentityModel(string path, IReadOnlyDictionary<string, OrtTensor> inputs)
    {
        var graph = new GraphProto { Name = "identity" };
        foreach (var (name, t) in inputs)
        {
            var type = t.ElementType switch
            {
                OrtElementType.Float32 => TensorProto.Types.DataType.Float,
                OrtElementType.Float64 => TensorProto.Types.DataType.Double,
                OrtElementType.Int64 => TensorProto.Types.DataType.Int64,
                OrtElementType.Int32 => TensorProto.Types.DataType.Int32,
                OrtElementType.Int8 => TensorProto.Types.DataType.Int8,
                OrtElementType.UInt8 => TensorProto.Types.DataType.Uint8,
                _ => TensorProto.Types.DataType.Bool,
            };
            graph.Input.Add(ValueInfo(name, type, t.Shape));
            graph.Output.Add(ValueInfo(name + "_out", type, t.Shape));
            graph.Node.Add(new NodeProto { OpType = "Identity", Name = name + "/Identity", Input = { name }, Output = { name + "_out" } });
        }
        var model = new ModelProto { IrVersion = 8, ProducerName = "slim-test", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OnnxExportOptions.Opset });
        OnnxExporter.Save(model, path);
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, long[] shape)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = new TensorShapeProto() };
        foreach (var d in shape) tensor.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }
}
