using System.Text.Json;
using Slim.Core.Tests.Export;
using Slim.Detection;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using Xunit.Abstractions;

namespace Slim.Core.Tests.Pipeline;

public class VerifyStageTests(TinyExportRun run, ITestOutputHelper output) : IClassFixture<TinyExportRun>
{
    private static VerifySection Section(double? baselineAp, double maxDrop) => new()
    {
        Threads = 1,
        LatencyRuns = 3,
        WarmupRuns = 1,
        Baseline = new BaselineSection { Ap = baselineAp, MaxDrop = maxDrop },
    };

    /// <summary>
    /// The barely trained model detects nothing (AP 0 on both sides proves little), and its boxes depend on
    /// float kernels that differ between CPUs. So make the outputs depend on their biases alone (output
    /// weights zero): one anchor of the stride-16 head fires at every cell with one class, with the size of
    /// one validation object and an offset that puts the box of that object's cell exactly on it. Every
    /// image then gets the same 36 boxes (all kept, none suppressed), one of which is a true positive, so
    /// the AP comparison covers decoding, NMS and matching whatever the CPU.
    /// </summary>
    private string Confident(string checkpoint, string path)
    {
        var (model, _, options) = TestCheckpoints.Load(checkpoint);
        // The tallest validation object (in network-input pixels; the images are resized to the input size).
        var (sample, box) = run.Task.Val.Samples.SelectMany(v => v.Boxes.Select(b => (v, b))).OrderByDescending(p => p.b.Height).ThenBy(p => p.v.ImageId).First();
        double sx = options.InputSize / (double)sample.Width, sy = options.InputSize / (double)sample.Height;
        double w = box.Width * sx, h = box.Height * sy, cx = (box.X1 + box.X2) / 2 * sx, cy = (box.Y1 + box.Y2) / 2 * sy;
        const int head = 1, stride = 16;
        static double Logit(double p) => Math.Log(p / (1 - p));
        double fx = Math.Clamp(cx / stride - Math.Floor(cx / stride), 0.02, 0.98), fy = Math.Clamp(cy / stride - Math.Floor(cy / stride), 0.02, 0.98);
        using (model)
        using (torch.no_grad())
        {
            int per = 5 + options.NumClasses;
            var geometry = new Slim.Detection.YoloGeometry { NumClasses = options.NumClasses };
            for (int o = 0; o < model.OutputPaths.Count; o++)
            {
                var conv = (Slim.Torch.Modules.Conv2d)model.get_submodule(model.OutputPaths[o] + ".conv");
                conv.weight.zero_();
                var bias = conv.bias!;
                bias.zero_();
                for (int a = 0; a < options.AnchorsPerScale; a++)
                {
                    bool on = o == head && a == 0;
                    var anchor = geometry.Anchors[geometry.AnchorMasks[o][a]];
                    bias.narrow(0, a * per + 0, 1).fill_(Logit(fx));
                    bias.narrow(0, a * per + 1, 1).fill_(Logit(fy));
                    bias.narrow(0, a * per + 2, 1).fill_(Math.Log(w / anchor[0]));
                    bias.narrow(0, a * per + 3, 1).fill_(Math.Log(h / anchor[1]));
                    bias.narrow(0, a * per + 4, 1).fill_(on ? 2.0 : -20.0);
                    bias.narrow(0, a * per + 5, options.NumClasses).fill_(-20.0);
                    bias.narrow(0, a * per + 5 + box.ClassIndex, 1).fill_(3.0);
                }
            }
            Slim.Torch.Checkpoint.Save(path, model.state_dict(), Slim.Torch.Checkpoint.ReadMetadata(checkpoint));
        }
        return path;
    }

    [Fact]
    public void MeasuresApLatencyAndSizeAndComparesWithTheBaseline()
    {
        var checkpoint = Confident(run.Checkpoint, Path.Combine(run.Dir, "confident.ckpt"));
        var export = ExportStage.Run(run.Context("export"), checkpoint, null, null, new ExportSection());
        var ctx = run.Context("verify");

        // The AP ONNX Runtime gives equals libtorch's on the same images (the same decoder and evaluator).
        var (model, _, _) = TestCheckpoints.Load(checkpoint);
        DetectionScore torch;
        using (model) torch = run.Task.Evaluate(model.call);
        double torchAp = torch.Primary;
        Assert.True(torch.Detections >= 100 && torchAp > 0, $"the confident model should detect: {torch.Detections} detections, AP {torchAp}");

        // Baseline from this run (no verify.baseline.ap): the model itself, so the drop is 0 and it passes.
        var pass = VerifyStage.Run(ctx, export, Section(null, 0.0), torchAp);
        var fp32 = Assert.Single(pass.Models);
        output.WriteLine($"AP {fp32.Ap} (libtorch {torchAp}), latency {fp32.LatencyMs} ms, {fp32.SizeBytes} B");
        Assert.Equal("fp32", fp32.Precision);
        Assert.Equal(torchAp, fp32.Ap, 5);
        Assert.True(fp32.LatencyMs > 0);
        Assert.Equal(export.Fp32Bytes, fp32.SizeBytes);
        Assert.Equal(torchAp - fp32.Ap, fp32.Drop, 12);
        Assert.True(pass.Passed);
        pass.ThrowIfFailed();
        Assert.Equal(run.Task.ValImageCount, pass.ValImages);

        // verify.json is written atomically beside, with the verdict.
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(ctx.StageDir, VerifyStage.ResultFileName))).RootElement;
        Assert.True(json.GetProperty("passed").GetBoolean());
        Assert.Equal(fp32.Ap, json.GetProperty("models")[0].GetProperty("ap").GetDouble());
        Assert.Equal(new[] { VerifyStage.ResultFileName }, Directory.GetFiles(ctx.StageDir).Select(Path.GetFileName));

        // verify.baseline.ap overrides the run's baseline: an unreachable AP fails with the model named.
        var fail = VerifyStage.Run(run.Context("verify-fail"), export, Section(1.0, 0.02), torchAp);
        Assert.False(fail.Passed);
        Assert.Equal(1.0, fail.BaselineAp);
        Assert.Equal(1.0 - fail.Models[0].Ap, fail.Models[0].Drop, 12);
        var e = Assert.Throws<VerificationFailedException>(fail.ThrowIfFailed);
        Assert.Contains("fp32 model model_fp32.onnx", e.Message);
        Assert.Contains("verify.baseline.max_drop", e.Message);

        // A drop exactly at the tolerance passes; just over it fails.
        double ap = fp32.Ap;
        Assert.True(ap <= 0.7, $"the 4-iteration model has AP {ap}; the edge cases below need room up to 1");
        Assert.True(VerifyStage.Run(run.Context("verify-edge"), export, Section(ap + 0.25, 0.25), 0).Passed);
        Assert.False(VerifyStage.Run(run.Context("verify-over"), export, Section(ap + 0.2501, 0.25), 0).Passed);
    }

    /// <summary>verify.require_int8: a quantized layer ONNX Runtime runs in float fails the verification, by name.</summary>
    [Fact]
    public void RequireInt8FailsOnAFloatFallbackAndSaysWhich()
    {
        var fallback = new Slim.Export.DeployedLayer("block.se_block.conv2", "FusedConv", false, "its output goes to HardSigmoid, not to a QuantizeLinear: no quantization point on it");
        var deployment = new Slim.Export.Int8DeploymentReport("4/5 quantized layers in int8 (QLinearConv 4); also in float: 1 Conv", 5, 4, new[] { fallback }, new[] { "HardSigmoid se" });
        var outcome = new VerifyOutcome
        {
            Metric = "VOC mAP@0.5", BaselineAp = 0.5, MaxDrop = 0.1, Threads = 1, WarmupRuns = 1, LatencyRuns = 3, ValImages = 8,
            Models = new[] { new VerifiedModel("int8", "model_int8.onnx", 0.49, 0.01, 1.0, 1000, true) },
            Int8Deployment = deployment,
        };
        Assert.True(outcome.Passed); // reported, not enforced, by default
        var strict = outcome with { RequireInt8 = true };
        Assert.False(strict.Passed);
        var e = Assert.Throws<VerificationFailedException>(strict.ThrowIfFailed);
        Assert.Contains("block.se_block.conv2", e.Message);
        Assert.Contains("verify.require_int8", e.Message);
        var json = JsonDocument.Parse(strict.ToJson()).RootElement;
        Assert.False(json.GetProperty("passed").GetBoolean());
        var d = json.GetProperty("int8_deployment");
        Assert.Equal(4, d.GetProperty("int8_layers").GetInt32());
        Assert.Equal("block.se_block.conv2", d.GetProperty("float_fallbacks")[0].GetProperty("module_path").GetString());
        Assert.True((outcome with { RequireInt8 = true, Int8Deployment = deployment with { FloatFallbacks = Array.Empty<Slim.Export.DeployedLayer>(), Int8Layers = 5 } }).Passed);
    }

    [Fact]
    public void RejectsAnEmptyExportAndAMissingFile()
    {
        var ctx = run.Context("verify-bad");
        var none = new ExportOutcome(null, 0, null, 0, 0);
        Assert.Contains("no model", Assert.Throws<SlimException>(() => VerifyStage.Run(ctx, none, Section(0.5, 0.1), 0.5)).Message);
        var missing = new ExportOutcome(Path.Combine(ctx.StageDir, "nope.onnx"), 0, null, 0, 0);
        Assert.Contains("nope.onnx", Assert.Throws<FileNotFoundException>(() => VerifyStage.Run(ctx, missing, Section(0.5, 0.1), 0.5)).Message);
    }
}
