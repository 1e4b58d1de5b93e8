using System.Diagnostics;
using Slim.Export;
using Slim.Torch;
using Xunit.Abstractions;

namespace Slim.Core.Tests.Export;

/// <summary>Shared pieces of the export tests: ONNX Runtime, the python onnx checker, comparisons.</summary>
internal static class ExportTestSupport
{
    private const string Python = "/usr/bin/python3";
    private static readonly Lazy<string?> PythonOnnxMissing = new(() =>
    {
        if (!File.Exists(Python)) return $"{Python} not found";
        var (code, _, err) = RunPython("import onnx");
        return code == 0 ? null : $"{Python} lacks onnx (python3-onnx): {err.Trim().Split('\n').LastOrDefault()}";
    });

    /// <summary>Runs onnx.checker.check_model (full check: with strict shape inference) on the file; asserts it passes.</summary>
    public static void AssertOnnxCheckerPasses(string path, ITestOutputHelper output)
    {
        // A missing checker is reported as a skip (the calling test is a SkippableFact), never as a pass.
        Skip.If(PythonOnnxMissing.Value is not null, PythonOnnxMissing.Value);
        var (code, stdout, stderr) = RunPython(
            "import sys, onnx\nm = onnx.load(sys.argv[1])\nonnx.checker.check_model(m, full_check=True)\nprint('ok', m.opset_import[0].version)", path);
        Assert.True(code == 0, $"onnx.checker rejected {path}:\n{stderr}");
        Assert.StartsWith("ok", stdout.Trim());
    }

    public static (int Code, string Stdout, string Stderr) RunPython(string script, params string[] args)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, err.Result);
    }

    public static float MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    /// <summary>Runs the exported file in ONNX Runtime and libtorch on the same input; asserts all outputs agree to tol.</summary>
    public static void AssertMatchesTorch(OrtRunner ort, string path, string inputName, Tensor input, Tensor[] expected, string[] outputNames, float tol)
    {
        var outs = ort.Run(path, new Dictionary<string, OrtTensor> { [inputName] = OrtTensor.FromTensor(input) });
        Assert.Equal(outputNames.Length, outs.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            var got = outs[outputNames[i]];
            Assert.Equal(expected[i].shape, got.Shape);
            var diff = MaxAbsDiff(expected[i].ToFloatArray(), got.ToFloatArray());
            Assert.True(diff <= tol, $"{outputNames[i]} (batch {input.shape[0]}): max |ORT - libtorch| = {diff} > {tol}");
        }
    }

    public static string TempDir()
    {
        var d = Directory.CreateTempSubdirectory("slim-export-test-").FullName;
        return d;
    }

    /// <summary>Gives a batch norm non-trivial statistics and affine terms so folding it is really tested.</summary>
    public static void Randomize(Slim.Torch.Modules.BatchNorm2d bn, Generator g)
    {
        using var _ = torch.no_grad();
        long c = bn.num_features;
        bn.running_mean.copy_(torch.randn(new[] { c }, g) * 0.5);
        bn.running_var.copy_(torch.rand(new[] { c }, g) + 0.5);
        bn.weight.copy_(torch.rand(new[] { c }, g) + 0.5);
        bn.bias.copy_(torch.randn(new[] { c }, g) * 0.2);
    }
}
