using System.Text.Json;
using Slim.Pipeline;

namespace Slim.Cli.Tests;

/// <summary>`slim run` on an SSDLite recipe: train → aware quantization with the mobile zoo's not_quant pattern → FP32/INT8 export → AP in ONNX Runtime.</summary>
public class SsdRunTests(RunFixture fx) : IClassFixture<RunFixture>
{
    // An SSDLite-small recipe at 96 px on the fixture's shared sample data; rest holds its train, stages, export and verify keys.
    private string TinyRecipe(string name, int seed, string rest) => $$"""
        name: {{name}}
        seed: {{seed}}
        threads: 1
        model: {name: ssdlite_mobilenet_v3_small, input_size: 96}
        dataset: {format: synthetic, root: {{fx.Dataset}}, workers: 1, generate: {train_images: 24, val_images: 8, image_size: 96, max_objects: 3} }

        """ + rest;

    [Fact]
    public void SsdLiteTrainsQuantizesWithTheZoosPatternExportsAndVerifies()
    {
        var recipe = Path.Combine(fx.Root, "tiny_ssd.yml");
        File.WriteAllText(recipe, TinyRecipe("tiny_ssd", 2, """
            train: {iterations: 20, batch_size: 4, lr: 0.05, warmup_steps: 2, schedule: cosine, metric: voc}
            stages:
              - quant: {mode: aware, not_quant: [res_conv1, se_block], fine_tune: {iterations: 6, lr: 0.001} }
            verify: {baseline: {max_drop: 1.0}, latency_runs: 2, warmup_runs: 1}
            """));
        var outDir = Path.Combine(fx.Root, "ssd");
        var (code, err) = RunCommandTests.Run("run", recipe, "--out", outDir);
        Assert.True(code == 0, err);
        var report = RunCommandTests.Report(outDir);
        Assert.Equal(new[] { "baseline", "quant", "onnx fp32", "onnx int8" }, report.Stages.Select(s => s.Stage));
        // Every depthwise conv of an inverted residual and every SE conv stays float, by the pattern; the rest is int8.
        var layers = QuantFile.ReadReport(Path.Combine(outDir, "stages", "01_quant", QuantStage.QuantFileName));
        Assert.Equal(11, layers.Count(l => l.Reason == "not_quant pattern 'res_conv1'"));
        Assert.Equal(2 * 9, layers.Count(l => l.Reason == "not_quant pattern 'se_block'"));
        Assert.Contains(layers, l => l.Path == "extra_blocks.0.depthwise_conv.conv" && l.Quantized);
        Assert.Matches(@"export: model_int8\.onnx in ONNX Runtime: (\d+)/\1 quantized layers in int8", err);
        // The INT8 file scores as the fake-quantized model did, within a point; the FP32 file as libtorch.
        Assert.True(Math.Abs(report.Stages[1].Ap!.Value - report.Stages[3].OrtAp!.Value) <= 0.01, $"fake-quant {report.Stages[1].Ap} vs INT8 {report.Stages[3].OrtAp}");
        Assert.Equal(report.Stages[0].Ap!.Value, report.Stages[2].OrtAp!.Value, 3);
        // The file says how to decode it.
        var meta = Slim.Export.OnnxExporter.Load(Path.Combine(outDir, "export", ExportStage.Fp32FileName)).MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("ssd", meta["task"]);
        var priors = JsonSerializer.Deserialize<float[]>(meta["priors"])!;
        Assert.Equal(0, priors.Length % 4);

        // slim infer draws the same detections from the checkpoint (libtorch) and the FP32 file (ONNX Runtime, raw outputs).
        var image = Directory.GetFiles(Path.Combine(fx.Dataset, "coco", "images")).Order(StringComparer.Ordinal).First();
        var checkpoint = Path.Combine(outDir, "stages", "00_train", "best.ckpt");
        var fromCkpt = Slim.Cli.Commands.InferCommand.Infer(checkpoint, null, image, Path.Combine(fx.Root, "ssd-infer-ckpt"), 0.0, 1)[0].Boxes;
        var fromOnnx = Slim.Cli.Commands.InferCommand.Infer(null, Path.Combine(outDir, "export", ExportStage.Fp32FileName), image, Path.Combine(fx.Root, "ssd-infer-onnx"), 0.0, 1)[0].Boxes;
        Assert.NotEmpty(fromCkpt);
        Assert.Equal(fromCkpt.Count, fromOnnx.Count);
        Assert.Equal(fromCkpt[0].ClassId, fromOnnx[0].ClassId);
        Assert.Equal(fromCkpt[0].X1, fromOnnx[0].X1, 0.05);
        Assert.Equal(fromCkpt[0].Score, fromOnnx[0].Score, 1e-3);
    }

    [Fact]
    public void QuantVerbTakesTheZoosPatternAndDistillationTeachesASmallFromALargeSsdLite()
    {
        var recipe = Path.Combine(fx.Root, "tiny_ssd_distill.yml");
        File.WriteAllText(recipe, TinyRecipe("tiny_ssd_distill", 3, """
            train: {iterations: 30, batch_size: 4, lr: 0.02, warmup_steps: 1, metric: voc}
            stages:
              - distill: {teacher: train, teacher_model: {name: ssdlite_mobilenet_v3_large, input_size: 96}, teacher_iterations: 30, fine_tune: {iterations: 6, lr: 0.01} }
            export: {fp32: false, int8: false}
            verify: {enabled: false}
            """));
        var outDir = Path.Combine(fx.Root, "ssd-distill");
        var (code, err) = RunCommandTests.Run("run", recipe, "--out", outDir);
        Assert.True(code == 0, err);
        // L2 on the head's inputs, weight 1; the large teacher's wider maps reach the student's through adapters.
        Assert.Contains("distill: l2_distill × 1 from ssdlite_mobilenet_v3_large", err);
        Assert.Contains("backbone.conv_last:backbone.conv_last", err);
        Assert.Equal(new[] { "baseline", "distill" }, RunCommandTests.Report(outDir).Stages.Select(s => s.Stage));

        var quantDir = Path.Combine(fx.Root, "ssd-quant-verb");
        var (qcode, qerr) = RunCommandTests.Run("quant", recipe, "--checkpoint", Path.Combine(outDir, "stages", "00_train", "best.ckpt"), "--mode", "aware",
            "--not-quant", "res_conv1,se_block", "--iterations", "3", "--out", quantDir);
        Assert.True(qcode == 0, qerr);
        var layers = QuantFile.ReadReport(Path.Combine(quantDir, QuantStage.QuantFileName));
        Assert.Equal(11, layers.Count(l => l.Reason == "not_quant pattern 'res_conv1'"));
        Assert.All(layers.Where(l => l.Path.Contains("se_block", StringComparison.Ordinal)), l => Assert.False(l.Quantized));
    }

    [Fact]
    public void PostTrainingQuantizedSsdExportsInt8WithTheNmsInTheGraphAndScoresAsTheRawInt8File()
    {
        var recipe = Path.Combine(fx.Root, "tiny_ssd_post.yml");
        File.WriteAllText(recipe, TinyRecipe("tiny_ssd_post", 6, """
            train: {iterations: 30, batch_size: 4, lr: 0.05, warmup_steps: 2, metric: voc}
            export: {fp32: true, int8: true}
            verify: {enabled: false}
            """));
        var outDir = Path.Combine(fx.Root, "ssd-post");
        var (code, err) = RunCommandTests.Run("train", recipe, "--out", outDir);
        Assert.True(code == 0, err);
        var quantDir = Path.Combine(fx.Root, "ssd-post-quant");
        (code, err) = RunCommandTests.Run("quant", recipe, "--checkpoint", Path.Combine(outDir, "best.ckpt"), "--mode", "post", "--algo", "kl",
            "--calibration-batches", "2", "--not-quant", "res_conv1,se_block", "--out", quantDir);
        Assert.True(code == 0, err);
        var raw = Path.Combine(fx.Root, "ssd-post-raw");
        var post = Path.Combine(fx.Root, "ssd-post-nms");
        Assert.Equal(0, RunCommandTests.Run("export", recipe, "--checkpoint", Path.Combine(outDir, "best.ckpt"), "--quant-dir", quantDir, "--out", raw).code);
        (code, err) = RunCommandTests.Run("export", recipe, "--checkpoint", Path.Combine(outDir, "best.ckpt"), "--quant-dir", quantDir, "--postprocess", "--out", post);
        Assert.True(code == 0, err);
        // The INT8 file with decoding and NMS inside scores as the raw INT8 file decoded outside.
        var task = (Slim.Tasks.Ssd.SsdTask)Slim.Tasks.TaskRegistry.CreateTask(Slim.Recipes.RecipeLoader.Load<Slim.Recipes.Recipe>(recipe));
        var rawScore = task.EvaluateOnnx(Path.Combine(raw, ExportStage.Int8FileName), 1);
        var postScore = task.EvaluateOnnx(Path.Combine(post, ExportStage.Int8FileName), 1);
        Assert.True(rawScore.Detections > 0);
        Assert.Equal(rawScore.Detections, postScore.Detections);
        Assert.Equal(rawScore.Primary, postScore.Primary, 3);
        Assert.True(Slim.Tasks.Detection.OnnxDetector.Open(Path.Combine(post, ExportStage.Int8FileName)).HasPostprocess);
    }

    [Fact]
    public void FlopsPrintsTheFullSizeModelsFigures()
    {
        var (console, text) = PruneCliSupport.Recorder();
        var spec = new Slim.Cli.Commands.ModelSpec("ssdlite_mobilenet_v3_large", null, 80, 1.0, 320, true);
        Assert.Equal(ExitCode.Ok, Slim.Cli.Commands.FlopsCommand.Execute(spec, [], false, console));
        var output = text.ToString();
        Assert.Contains("320x320", output);
        // 0.528 G multiply-accumulates (0.492 × 2^30) and 3.43 M parameters with batch-norm statistics.
        Assert.Contains("0.492", output);
        Assert.Contains("3.428", output);
    }
}
