using System.Runtime.CompilerServices;
using System.Text.Json;
using Slim.Torch;
using static Slim.Torch.torch;
using static Slim.Core.Tests.Torch.GradCheck;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Torch;

/// <summary>
/// Slim's binding against PyTorch itself: Fixtures/reference.json holds outputs, gradients
/// and optimizer trajectories computed by Debian's python3-torch with
/// Fixtures/make_reference.py on the same formula-generated inputs.
/// </summary>
public class ReferenceTests
{
    private static readonly Lazy<JsonDocument> Fixture = new(() => JsonDocument.Parse(File.ReadAllText(FixturePath())));

    private static long[] S(params long[] s) => s;

    /// <summary>The fixture next to this source file (found from the build output by walking up to the repository).</summary>
    private static string FixturePath([CallerFilePath] string source = "")
    {
        var beside = Path.Combine(Path.GetDirectoryName(source) ?? "", "Fixtures", "reference.json");
        if (File.Exists(beside)) return beside;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Slim.Core.Tests", "Torch", "Fixtures", "reference.json");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException("reference.json not found; regenerate it with Fixtures/make_reference.py");
    }

    private static JsonElement Case(string name) => Fixture.Value.RootElement.GetProperty("cases").GetProperty(name);

    private static void AssertClose(JsonElement expected, Tensor actual, double tol, string label)
    {
        var shape = expected.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        Assert.Equal(shape, actual.shape);
        var want = expected.GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        using var d = actual.to(ScalarType.Float64);
        var got = d.data<double>();
        for (int i = 0; i < want.Length; i++)
            if (Math.Abs(want[i] - got[i]) > tol * (1 + Math.Abs(want[i])))
                Assert.Fail($"{label}[{i}]: PyTorch {want[i]:R}, Slim {got[i]:R}");
    }

    /// <summary>Runs fn like make_reference.py's case(): output, then gradients of sum(output·weights).</summary>
    private static void Compare(string name, Func<Tensor[], Tensor> fn, Tensor[] inputs, double tol = 1e-10)
    {
        using var scope = NewDisposeScope();
        using var _ = enable_grad();
        var leaves = inputs.Select(x => x.clone().requires_grad_(x.dtype.IsFloatingPoint())).ToArray();
        var y = fn(leaves);
        var w = Det(y.shape, 1.0, 0.37, 0.25).to(y.dtype);
        y.mul(w).sum().backward();
        var expected = Case(name);
        AssertClose(expected.GetProperty("output"), y, tol, name + " output");
        for (int i = 0; i < leaves.Length; i++)
            if (expected.TryGetProperty($"grad{i}", out var g))
                AssertClose(g, leaves[i].grad!, tol, $"{name} grad{i}");
    }

    [Fact]
    public void ConvolutionsMatchPyTorch()
    {
        Compare("conv2d_groups2_stride2", x => F.conv2d(x[0], x[1], x[2], S(2, 2), S(1, 1), S(1, 1), 2),
            new[] { Det(S(2, 4, 7, 7)), Det(S(6, 2, 3, 3), 0.5, 0.5), Det(S(6), 0.2, 0.6) });
        Compare("conv2d_depthwise_dilation2", x => F.conv2d(x[0], x[1], null, S(1, 1), S(2, 2), S(2, 2), 3),
            new[] { Det(S(1, 3, 6, 6)), Det(S(3, 1, 3, 3), 0.5, 0.7) });
        Compare("linear", x => F.linear(x[0], x[1], x[2]), new[] { Det(S(3, 5)), Det(S(4, 5), 0.5, 0.1), Det(S(4), 0.3, 0.2) });
    }

    [Fact]
    public void BatchNormTrainingMatchesPyTorchIncludingRunningStatistics()
    {
        using var scope = NewDisposeScope();
        var mean = zeros(S(3), ScalarType.Float64);
        var var = ones(S(3), ScalarType.Float64);
        Compare("batch_norm_train", x => F.batch_norm(x[0], mean, var, x[1], x[2], training: true, momentum: 0.1, eps: 1e-5),
            new[] { Det(S(4, 3, 3, 3), 2.0), Det(S(3), 0.5, 0.1, 1.0), Det(S(3), 0.3, 0.2) });
        var running = Case("batch_norm_running");
        AssertClose(running.GetProperty("mean"), mean, 1e-12, "running_mean");
        AssertClose(running.GetProperty("var"), var, 1e-12, "running_var");
    }

    [Fact]
    public void ActivationsPoolsAndResizingMatchPyTorch()
    {
        Compare("hardswish", x => F.hardswish(x[0]), new[] { Det(S(4, 15), 4.5) });
        Compare("max_pool2d_k3_s2_p1", x => F.max_pool2d(x[0], S(3, 3), S(2, 2), S(1, 1)), new[] { Det(S(1, 2, 7, 7)) });
        Compare("adaptive_avg_pool2d", x => F.adaptive_avg_pool2d(x[0], S(3, 3)), new[] { Det(S(2, 2, 5, 5)) });
        Compare("interpolate_bilinear", x => F.interpolate(x[0], scale_factor: 2, mode: "bilinear"), new[] { Det(S(1, 2, 3, 3)) });
        Compare("interpolate_nearest", x => F.interpolate(x[0], scale_factor: 2, mode: "nearest"), new[] { Det(S(1, 2, 3, 3)) });
        Compare("log_softmax", x => x[0].log_softmax(1), new[] { Det(S(3, 4), 2.0) });
    }

    [Fact]
    public void LossesMatchPyTorch()
    {
        Compare("cross_entropy_label_smoothing",
            x => F.cross_entropy(x[0], tensor(new long[] { 0, 3, 1, 2, 3 }), Det(S(4), 0.4, 0.5, 1.0), label_smoothing: 0.1),
            new[] { Det(S(5, 4), 2.0) });
        Compare("bce_with_logits",
            x => F.binary_cross_entropy_with_logits(x[0], x[1], Det(S(3, 4), 0.5, 0.1, 1.0), pos_weight: Det(S(4), 0.5, 0.2, 1.5)),
            new[] { Det(S(3, 4), 3.0), Det(S(3, 4), 0.5, 0.3, 0.5) });
        Compare("smooth_l1_loss", x => F.smooth_l1_loss(x[0], x[1], beta: 0.5), new[] { Det(S(3, 5)), Det(S(3, 5), 1.0, 0.3) });
        Compare("kl_div", x => F.kl_div(x[0].log_softmax(1), x[1].softmax(1), F.Reduction.Sum),
            new[] { Det(S(3, 5)), Det(S(3, 5), 1.0, 0.3) });
    }

    [Fact]
    public void FakeQuantizationAndItsStraightThroughGradientMatchPyTorch()
    {
        using var scope = NewDisposeScope();
        Compare("fake_quantize_per_tensor", x => F.fake_quantize_per_tensor_affine(x[0], 0.05, 3, 0, 255),
            new[] { Det(S(4, 10), 8.0).to(ScalarType.Float32) }, 1e-6);
        var scale = tensor(new[] { 0.02f, 0.05f, 0.1f });
        var zeroPoint = tensor(new[] { 0, 10, -5 });
        Compare("fake_quantize_per_channel", x => F.fake_quantize_per_channel_affine(x[0], scale, zeroPoint, 0, -128, 127),
            new[] { Det(S(3, 12), 8.0, 0.1).to(ScalarType.Float32) }, 1e-6);

        // The straight-through gradient is exactly 0 or 1, and both occur in this case.
        var grads = Case("fake_quantize_per_tensor").GetProperty("grad0").GetProperty("values").EnumerateArray()
            .Select(e => e.GetDouble()).ToArray();
        var weights = Values(grads.Length, 1.0, 0.37, 0.25);
        Assert.Contains(grads, g => g == 0);
        Assert.Contains(grads.Select((g, i) => g / weights[i]), r => Math.Abs(r - 1) < 1e-6);
    }

    public static TheoryData<string> OptimizerNames => new("sgd_momentum_dampening", "sgd_nesterov_weight_decay", "sgd_plain",
        "adam_weight_decay", "adamw");

    private static optim.Optimizer MakeOptimizer(string name, Tensor[] p) => name switch
    {
        "sgd_momentum_dampening" => new optim.SGD(p, 0.3, momentum: 0.9, dampening: 0.1),
        "sgd_nesterov_weight_decay" => new optim.SGD(p, 0.3, momentum: 0.9, weight_decay: 0.01, nesterov: true),
        "sgd_plain" => new optim.SGD(p, 0.5),
        "adam_weight_decay" => new optim.Adam(p, 0.05, 0.9, 0.99, 1e-8, weight_decay: 0.01),
        "adamw" => optim.AdamW(p, 0.05, weight_decay: 0.1),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(OptimizerNames))]
    public void OptimizerTrajectoryMatchesTorchOptim(string name)
    {
        using var scope = NewDisposeScope();
        using var _ = enable_grad();
        var w = Det(S(3, 4), 0.5, 0.11).requires_grad_();
        var b = Det(S(3), 0.2, 0.22).requires_grad_();
        var x = Det(S(6, 4), 1.0, 0.33);
        var y = Det(S(6, 3), 0.8, 0.44);
        using var opt = MakeOptimizer(name, new[] { w, b });
        var steps = Fixture.Value.RootElement.GetProperty("optimizers").GetProperty(name).EnumerateArray().ToArray();
        Assert.Equal(5, steps.Length);
        for (int k = 0; k < steps.Length; k++)
        {
            using var step = NewDisposeScope();
            opt.zero_grad();
            var loss = (x.matmul(w.t()).add(b).tanh() - y).pow(2).mean();
            loss.backward();
            opt.step();
            AssertClose(steps[k].GetProperty("w"), w, 1e-9, $"{name} step {k + 1} w");
            AssertClose(steps[k].GetProperty("b"), b, 1e-9, $"{name} step {k + 1} b");
        }
    }

    [SkippableFact]
    public void FixtureIsReproducibleByTheScriptWhenPyTorchIsInstalled()
    {
        // Guards against a fixture edited by hand or a script changed without regenerating it.
        var python = "/usr/bin/python3";
        // A missing reference is reported as skipped (./build.sh test installs python3-torch and fails on any skip).
        Skip.IfNot(File.Exists(python) && PythonHasTorch(python), "/usr/bin/python3 with torch is not installed (Debian package python3-torch)");
        var tmp = Path.Combine(Path.GetTempPath(), $"slim-ref-{Guid.NewGuid():N}.json");
        try
        {
            var script = Path.Combine(Path.GetDirectoryName(FixturePath())!, "make_reference.py");
            var (code, err) = Run(python, $"\"{script}\" \"{tmp}\"");
            Assert.True(code == 0, err);
            using var fresh = JsonDocument.Parse(File.ReadAllText(tmp));
            var a = fresh.RootElement.GetProperty("cases");
            var b = Fixture.Value.RootElement.GetProperty("cases");
            foreach (var c in b.EnumerateObject())
                Assert.Equal(c.Value.GetRawText(), a.GetProperty(c.Name).GetRawText());
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    private static bool PythonHasTorch(string python) => Run(python, "-c \"import torch\"").code == 0;

    private static (int code, string err) Run(string exe, string args)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(exe, args)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        var err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, err);
    }
}
