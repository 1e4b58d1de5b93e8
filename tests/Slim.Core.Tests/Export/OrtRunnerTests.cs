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
    public void TensorFileRoundTripsEveryElementType()
    {
        var runs = new List<IReadOnlyDictionary<string, OrtTensor>>
        {
            new Dictionary<string, OrtTensor>
            {
                ["f"] = new(new[] { 1.5f, -2f, 3.25f, 0f, 1e-8f, -7f }, 2, 3),
                ["l"] = new(new[] { long.MinValue, 5L }, 2),
            },
            new Dictionary<string, OrtTensor>
            {
                ["i8"] = new(new sbyte[] { -128, 127 }, 2),
                ["u8"] = new(new byte[] { 0, 255, 7 }, 3),
                ["b"] = new(new[] { true, false }, 1, 2),
                ["i"] = new(new[] { -1, 2 }, 2),
                ["d"] = new(new[] { Math.PI }, 1),
                ["empty"] = new(Array.Empty<float>(), 0, 4),
            },
        };
        var path = Path.Combine(_dir, "t.bin");
        OrtTensorFile.Write(path, runs);
        var back = OrtTensorFile.Read(path);
        Assert.Equal(2, back.Count);
        for (int r = 0; r < runs.Count; r++)
        {
            Assert.Equal(runs[r].Keys, back[r].Keys);
            foreach (var (k, t) in runs[r])
            {
                Assert.Equal(t.Shape, back[r][k].Shape);
                Assert.Equal(t.ElementType, back[r][k].ElementType);
                Assert.Equal(t.Data.Cast<object>(), back[r][k].Data.Cast<object>());
            }
        }
    }

    [Fact]
    public void OrtTensorRejectsShapeThatDoesNotMatchData()
    {
        var ex = Assert.Throws<ArgumentException>(() => new OrtTensor(new float[5], 2, 3));
        Assert.Contains("[2, 3]", ex.Message);
    }

    [Fact]
    public void MissingOrtDirectoryNamesTheSetupCommand()
    {
        var previous = Environment.GetEnvironmentVariable(OrtRunner.OrtDirVariable);
        try
        {
            Environment.SetEnvironmentVariable(OrtRunner.OrtDirVariable, Path.Combine(_dir, "nowhere"));
            Assert.False(OrtRunner.TryCreate(out _, out var reason));
            var ex = Assert.Throws<OrtUnavailableException>(() => OrtRunner.Create());
            Assert.Contains(OrtRunner.SetupCommand, ex.Message);
            Assert.Equal(reason, ex.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(OrtRunner.OrtDirVariable, previous);
        }
    }

    [Fact]
    public void ManyInputSetsInOneCallAndLatencyMeasurement()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(21);
        using var net = nn.Sequential(nn.Conv2d(3, 4, 3, padding: 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2));
        var path = Path.Combine(_dir, "m.onnx");
        OnnxExporter.ExportToFile(net, path, new OnnxExportOptions { InputShape = new long[] { 3, 16, 16 }, InputName = "x", OutputNames = new[] { "logits" } });
        var ort = ExportTestSupport.Ort(output);
        if (ort is null) return;
        net.eval();
        using var _ = no_grad();
        var inputs = Enumerable.Range(0, 5).Select(i => randn(new long[] { i + 1, 3, 16, 16 }, g)).ToArray();
        var results = ort.Run(path, inputs.Select(x => (IReadOnlyDictionary<string, OrtTensor>)new Dictionary<string, OrtTensor> { ["x"] = OrtTensor.FromTensor(x) }).ToList(), threads: 2);
        Assert.Equal(5, results.Count);
        for (int i = 0; i < inputs.Length; i++)
        {
            using var got = results[i]["logits"].ToTensor();
            Assert.True(got.allclose(net.call(inputs[i]), 1e-4, 1e-5), $"input set {i} differs from libtorch");
        }

        var latency = ort.MeasureLatency(path, new Dictionary<string, OrtTensor> { ["x"] = OrtTensor.FromTensor(inputs[0]) }, threads: 1, warmup: 2, runs: 7);
        Assert.Equal(1, latency.Threads);
        Assert.Equal(7, latency.Runs);
        Assert.True(latency.MinMs > 0 && latency.MinMs <= latency.MedianMs && latency.MedianMs <= latency.P90Ms && latency.P90Ms <= latency.MaxMs, latency.ToString());

        // A wrong input name is ONNX Runtime's error, reported as an OrtException.
        var ex = Assert.Throws<OrtException>(() => ort.Run(path, new Dictionary<string, OrtTensor> { ["images"] = OrtTensor.FromTensor(inputs[0]) }));
        Assert.Contains("ONNX Runtime failed", ex.Message);
    }
}
