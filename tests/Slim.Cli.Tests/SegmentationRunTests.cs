using System.Globalization;
using System.Text.Json;
using Slim.Cli.Commands;
using Slim.Data;
using Slim.Pipeline;
using Slim.Segmentation;

namespace Slim.Cli.Tests;

/// <summary>`slim run` on a segmentation recipe: train → prune −47.6 % FLOPs → aware quantization → FP32/INT8 export → mIoU verified in ONNX Runtime; then infer.</summary>
public sealed class SegmentationRunFixture : IDisposable
{
    public SegmentationRunFixture()
    {
        Recipe = Path.Combine(Root, "tiny_seg.yml");
        File.WriteAllText(Recipe, $$"""
            name: tiny_seg
            seed: 4
            threads: 1
            model: {name: fast_scnn, input_size: 64}
            dataset:
              format: synthetic
              root: {{Path.Combine(Root, "data")}}
              workers: 1
              generate: {train_images: 48, val_images: 8, image_size: 64, seed: 1, min_objects: 1, max_objects: 2 }
            train: {iterations: 40, batch_size: 4, lr: 0.02, schedule: cosine, warmup_steps: 5, augment: true, metric: miou}
            stages:
              - prune: {pruned_params: ["*"], pruned_ratios: "flops:0.476", sensitivity: {ratios: [0.5], val_images: 4}, fine_tune: {iterations: 20, lr: 0.01} }
              - quant: {mode: aware, fine_tune: {iterations: 10, lr: 0.0005} }
            verify: {baseline: {max_drop: 1.0}, latency_runs: 2, warmup_runs: 1}
            """);
        Out = Path.Combine(Root, "run");
        (Code, Stderr) = RunCommandTests.Run("run", Recipe, "--out", Out);
    }

    public string Root { get; } = Directory.CreateTempSubdirectory("slim-seg-run-").FullName;

    /// <summary>The dataset section of the fixture's recipe, for other recipes on the same generated data.</summary>
    public string Dataset => $"{{format: synthetic, root: {Path.Combine(Root, "data")}, workers: 1, generate: {{train_images: 48, val_images: 8, image_size: 64, seed: 1, min_objects: 1, max_objects: 2}} }}";
    public string Recipe { get; }
    public string Out { get; }
    public int Code { get; }
    public string Stderr { get; }

    public void Dispose() => Directory.Delete(Root, true);
}

public class SegmentationRunTests(SegmentationRunFixture fx) : IClassFixture<SegmentationRunFixture>
{
    [Fact]
    public void EveryStageRunsAndTheReportSpeaksMeanIou()
    {
        Assert.True(fx.Code == 0, fx.Stderr);
        var report = RunCommandTests.Report(fx.Out);
        Assert.Equal(new[] { "baseline", "prune", "quant", "onnx fp32", "onnx int8" }, report.Stages.Select(s => s.Stage));
        var baseline = report.Stages[0];
        var pruned = report.Stages[1];
        // PaddleX's Fast-SCNN row: −47.6 % FLOPs, within a point.
        double reduction = 1 - pruned.Gflops!.Value / baseline.Gflops!.Value;
        Assert.InRange(reduction, 0.466, 0.486);
        Assert.Contains("mIoU libtorch (%)", File.ReadAllText(Path.Combine(fx.Out, "report.md")));
        // The INT8 model in ONNX Runtime scores as its fake-quantized twin did, within a point.
        var quant = report.Stages[2];
        var int8 = report.Stages[4];
        Assert.True(Math.Abs(quant.Ap!.Value - int8.OrtAp!.Value) <= 0.01, $"fake-quant mIoU {quant.Ap} vs ONNX Runtime INT8 {int8.OrtAp}");
        // The classifier conv (the class maps) stays float; every other conv runs in int8 in ONNX Runtime.
        Assert.Matches(@"export: model_int8\.onnx in ONNX Runtime: (\d+)/\1 quantized layers in int8", fx.Stderr);
        Assert.Contains("classifier.conv", fx.Stderr);
        Assert.Contains("output layer", fx.Stderr);
        Assert.Contains("per-pixel class ids", fx.Stderr);
    }

    [Fact]
    public void SensitivityScoresEveryPrunableConvButTheClassMaps()
    {
        Assert.True(fx.Code == 0, fx.Stderr);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(fx.Out, "stages", "01_prune", PruneSensitivity.JsonName)));
        var text = json.RootElement.GetRawText();
        // The fusion's two 1×1 convs are one group (their outputs are added): one entry names it.
        Assert.Matches(@"feature_fusion\.conv_(low|high)_res\.conv\.weights", text);
        Assert.Contains("global_feature_extractor.ppm.conv_bn_relu2.conv.weights", text);
        Assert.Contains("learning_to_downsample.conv_bn_relu.conv.weights", text);
        Assert.DoesNotContain("classifier.conv.weights", text);
    }

    [Fact]
    public void PostTrainingQuantizationOfASegmenterRunsAndKeepsTheClassMapsFloat()
    {
        Assert.True(fx.Code == 0, fx.Stderr);
        var outDir = Path.Combine(fx.Root, "quant-post");
        var baseline = Path.Combine(fx.Out, "stages", "00_train", "best.ckpt");
        var (code, err) = RunCommandTests.Run("quant", fx.Recipe, "--checkpoint", baseline, "--mode", "post", "--algo", "kl", "--calibration-batches", "2", "--out", outDir);
        Assert.True(code == 0, err);
        var report = QuantFile.ReadReport(Path.Combine(outDir, QuantStage.QuantFileName));
        Assert.Contains(report, r => r.Path == "classifier.conv" && !r.Quantized && r.Reason == "output layer");
        Assert.True(report.Count(r => r.Quantized) > 40, "every other conv is quantized");
    }

    [Fact]
    public void InferWritesMasksAtTheImageSizeFromTheCheckpointAndTheOnnxModelAlike()
    {
        Assert.True(fx.Code == 0, fx.Stderr);
        var val = File.ReadAllLines(Path.Combine(fx.Root, "data", "segmentation", "val.txt")).Take(2)
            .Select(l => Path.Combine(fx.Root, "data", l.Split(' ')[0])).ToArray();
        var ckpt = Path.Combine(fx.Out, "stages", "01_prune", "best.ckpt");
        if (!File.Exists(ckpt)) ckpt = Directory.GetFiles(Path.Combine(fx.Out, "stages", "01_prune"), "*.ckpt").OrderBy(f => f, StringComparer.Ordinal).First();
        Assert.True(InferCommand.IsSegmenter(ckpt, null));
        var fromCkpt = InferCommand.Segment(ckpt, null, string.Join(",", val), Path.Combine(fx.Root, "infer-ckpt"), 1);
        var onnx = Path.Combine(fx.Out, "export", ExportStage.Fp32FileName);
        Assert.True(InferCommand.IsSegmenter(null, onnx));
        var fromOnnx = InferCommand.Segment(null, onnx, string.Join(",", val), Path.Combine(fx.Root, "infer-onnx"), 1);
        Assert.Equal(2, fromCkpt.Count);
        for (int i = 0; i < 2; i++)
        {
            var a = LabelMap.Load(fromCkpt[i].Mask);
            var b = LabelMap.Load(fromOnnx[i].Mask);
            var size = Image.ReadSize(val[i]);
            Assert.Equal((size.Width, size.Height), (a.Width, a.Height));
            int differ = a.Labels.Zip(b.Labels).Count(p => p.First != p.Second);
            Assert.True(differ <= a.Labels.Length / 100, $"{differ} of {a.Labels.Length} pixels differ between libtorch and ONNX Runtime");
            Assert.Equal(1.0, fromCkpt[i].ClassShares.Sum(s => s.Share), 9);
            Assert.True(File.Exists(fromCkpt[i].Overlay));
        }
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(fx.Root, "infer-ckpt", SegmentationInference.MasksFileName)));
        Assert.Equal(2, json.RootElement.GetArrayLength());
        // A detector's score threshold is refused nowhere here: the segmenter path takes none. The CLI says each image's classes.
        var (code, _) = RunCommandTests.Run("infer", "--onnx", onnx, "--images", val[0], "--out", Path.Combine(fx.Root, "infer-cli"));
        Assert.Equal(0, code);
        Assert.True(File.Exists(Path.Combine(fx.Root, "infer-cli", Path.GetFileNameWithoutExtension(val[0]) + "_mask.png")));
    }

    [Fact]
    public void VerifyVerbScoresTheExportedModelAsTheRunDid()
    {
        Assert.True(fx.Code == 0, fx.Stderr);
        var report = RunCommandTests.Report(fx.Out);
        var recipe = Slim.Recipes.RecipeLoader.Load<Slim.Recipes.Recipe>(fx.Recipe);
        var outcome = VerifyCommand.Verify(recipe, Path.Combine(fx.Out, "export", ExportStage.Fp32FileName), null, report.BaselineAp, 1.0, 1,
            Path.Combine(fx.Root, "verify-verb"), Slim.Training.NullProgress.Instance, CancellationToken.None);
        Assert.Equal("mIoU", outcome.Metric);
        Assert.Equal(report.Stages[3].OrtAp!.Value, outcome.Find("fp32")!.Ap, 9);
    }

    [Fact]
    public void DistillsFastScnnFromADeepLabV3PlusTeacherOnTheOutputLogits()
    {
        Assert.True(fx.Code == 0, fx.Stderr);
        var recipe = Path.Combine(fx.Root, "tiny_seg_distill.yml");
        File.WriteAllText(recipe, $$"""
            name: tiny_seg_distill
            seed: 4
            threads: 1
            model: {name: fast_scnn, input_size: 64}
            dataset: {{fx.Dataset}}
            train: {iterations: 10, batch_size: 4, lr: 0.02, augment: false, metric: miou}
            stages:
              - distill: {teacher: train, teacher_model: {name: deeplabv3p_mobilenet_v2, width: 0.5, input_size: 64}, teacher_iterations: 10, fine_tune: {iterations: 10, lr: 0.01} }
            export: {fp32: false, int8: false}
            verify: {enabled: false}
            """);
        var outDir = Path.Combine(fx.Root, "distill");
        var (code, err) = RunCommandTests.Run("run", recipe, "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Equal(new[] { "baseline", "distill" }, RunCommandTests.Report(outDir).Stages.Select(s => s.Stage));
        Assert.Contains("(model output)", err);
        Assert.Contains("deeplabv3p_mobilenet_v2", err);
    }

    [Fact]
    public void QuantizedDeepLabV3PlusScoresInOnnxRuntimeAsItsFakeQuantizedModel()
    {
        Assert.True(fx.Code == 0, fx.Stderr);
        var recipe = Path.Combine(fx.Root, "tiny_deeplab.yml");
        File.WriteAllText(recipe, $$"""
            name: tiny_deeplab
            seed: 5
            threads: 1
            model: {name: deeplabv3p_mobilenet_v2, width: 0.5, input_size: 64}
            dataset: {{fx.Dataset}}
            train: {iterations: 20, batch_size: 4, lr: 0.02, schedule: poly, warmup_steps: 2, augment: false, metric: miou}
            stages:
              - quant: {mode: aware, fine_tune: {iterations: 6, lr: 0.0005} }
            verify: {baseline: {max_drop: 1.0}, latency_runs: 2, warmup_runs: 1}
            """);
        var outDir = Path.Combine(fx.Root, "deeplab-quant");
        var (code, err) = RunCommandTests.Run("run", recipe, "--out", outDir);
        Assert.True(code == 0, err);
        var report = RunCommandTests.Report(outDir);
        Assert.Equal(new[] { "baseline", "quant", "onnx fp32", "onnx int8" }, report.Stages.Select(s => s.Stage));
        Assert.True(Math.Abs(report.Stages[1].Ap!.Value - report.Stages[3].OrtAp!.Value) <= 0.01, $"fake-quant mIoU {report.Stages[1].Ap} vs INT8 {report.Stages[3].OrtAp}");
        Assert.Matches(@"export: model_int8\.onnx in ONNX Runtime: (\d+)/\1 quantized layers in int8", err);
        Assert.Contains("logit.conv", err); // the logit conv stays float, PaddleSeg's --not_quant_pattern last_conv
    }
}
