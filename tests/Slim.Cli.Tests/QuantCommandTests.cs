using Slim.Cli;
using Slim.Cli.Commands;
using Slim.Compression.Quantization;
using Slim.Pipeline;
using Slim.Recipes;

namespace Slim.Cli.Tests;

/// <summary>A tiny recipe file on disk and a baseline trained from it, for the CLI verb tests.</summary>
public sealed class TinyRecipeFixture : IDisposable
{
    public TinyRecipeFixture()
    {
        Root = Directory.CreateTempSubdirectory("slim-cli-").FullName;
        RecipeFile = Path.Combine(Root, "tiny.yml");
        File.WriteAllText(RecipeFile, $$"""
            name: tiny
            seed: 2
            model: {name: yolov3_mobilenet_v1, width: 0.25, input_size: 64}
            dataset:
              format: synthetic
              root: {{Path.Combine(Root, "data")}}
              generate: {train_images: 16, val_images: 4, image_size: 96, min_objects: 1, max_objects: 2}
              workers: 1
            train: {iterations: 4, batch_size: 4, lr: 0.001, warmup_steps: 1, augment: false}
            """);
        var recipe = RecipeLoader.Load<Recipe>(RecipeFile);
        var task = DetectionTask.Create(recipe);
        Baseline = TrainStage.Run(task, Path.Combine(Root, "train"), false, NullProgress.Instance, default).Checkpoint;
    }

    public string Root { get; }
    public string RecipeFile { get; }
    public string Baseline { get; }

    public string Dir(string name) => Path.Combine(Root, name);

    /// <summary>Runs slim with args; returns the exit code and what went to stderr.</summary>
    public static (int code, string error) Slim(params string[] args)
    {
        var saved = Console.Error;
        var error = new StringWriter();
        Console.SetError(error);
        try
        {
            int code = Program.Run(args);
            return (code, error.ToString());
        }
        finally
        {
            Console.SetError(saved);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}

public class QuantCommandTests(TinyRecipeFixture fx) : IClassFixture<TinyRecipeFixture>
{
    [Fact]
    public void PostQuantizationWritesItsFilesAndExitsZero()
    {
        var outDir = fx.Dir("quant-post");
        var (code, error) = TinyRecipeFixture.Slim("quant", fx.RecipeFile, "--checkpoint", fx.Baseline, "--mode", "post", "--algo", "kl",
            "--calibration-batches", "2", "--not-quant", "yolo_block.2,yolo_transition", "--out", outDir);
        Assert.True(code == 0, error);
        Assert.True(File.Exists(Path.Combine(outDir, QuantStage.QuantFileName)));
        Assert.True(File.Exists(Path.Combine(outDir, QuantStage.TwinFileName)));
        var report = QuantFile.ReadReport(Path.Combine(outDir, QuantStage.QuantFileName));
        Assert.Contains(report, r => r.Path.StartsWith("yolo_block.2", StringComparison.Ordinal) && r.Reason == "not_quant pattern 'yolo_block.2'");
        Assert.Contains(report, r => r.Path.StartsWith("yolo_transition", StringComparison.Ordinal) && r.Reason == "not_quant pattern 'yolo_transition'");
        // The layer report goes to the progress log (stderr).
        Assert.Contains("output layer", error);
    }

    [Fact]
    public void VerbsGivenACheckpointFeedItTheStatisticsItWasTrainedOn()
    {
        // The baseline's weights, recorded as trained on other input statistics (as a model from pretrained weights is).
        var other = fx.Dir("other-statistics.ckpt");
        var (tensors, meta) = global::Slim.Torch.Checkpoint.Load(fx.Baseline);
        foreach (var (k, v) in global::Slim.Tasks.ExportModelInfo.NormalizationMetadata(new[] { 0.2f, 0.3f, 0.4f }, new[] { 0.5f, 0.6f, 0.7f })) meta[k] = v;
        global::Slim.Torch.Checkpoint.Save(other, tensors, meta);
        foreach (var t in tensors.Values) t.Dispose();
        string said = $"normalization the checkpoint ({other}) was trained with: mean 0.2, 0.3, 0.4, std 0.5, 0.6, 0.7";
        foreach (var args in new[]
                 {
                     new[] { "eval", fx.RecipeFile, "--checkpoint", other },
                     new[] { "quant", fx.RecipeFile, "--checkpoint", other, "--mode", "post", "--calibration-batches", "1", "--out", fx.Dir("quant-other-statistics") },
                     new[] { "export", fx.RecipeFile, "--checkpoint", other, "--out", fx.Dir("export-other-statistics") },
                 })
        {
            var (code, error) = TinyRecipeFixture.Slim(args);
            Assert.True(code == 0, error);
            Assert.Contains(said, error);
        }
        // The exported model carries them, so inference normalizes as the model was trained.
        var exported = global::Slim.Export.OnnxExporter.Load(Path.Combine(fx.Dir("export-other-statistics"), ExportStage.Fp32FileName)).MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal(new[] { 0.2f, 0.3f, 0.4f }, System.Text.Json.JsonSerializer.Deserialize<float[]>(exported["mean"]));
        Assert.Equal(new[] { 0.5f, 0.6f, 0.7f }, System.Text.Json.JsonSerializer.Deserialize<float[]>(exported["std"]));
    }

    [Fact]
    public void AwareQuantizationRunsWithIterationsFromTheCommandLine()
    {
        var outDir = fx.Dir("quant-aware");
        var (code, error) = TinyRecipeFixture.Slim("quant", fx.RecipeFile, "--checkpoint", fx.Baseline, "--mode", "aware", "--iterations", "2", "--out", outDir);
        Assert.True(code == 0, error);
        Assert.Equal("2", Slim.Torch.Checkpoint.ReadMetadata(Path.Combine(outDir, "qat", Trainer.LastName))["train.iteration"]);
    }

    [Theory]
    [InlineData(2, "--mode", "sideways", "--mode 'sideways' is not one of aware, post")]
    [InlineData(2, "--algo", "kll", "(did you mean kl?)")]
    [InlineData(2, "--calibration-batches", "0", "give at least 1")]
    [InlineData(2, "--not-quant", "a,,b", "empty pattern")]
    [InlineData(3, "--not-quant", "se_block", "'se_block' matches no module path")]
    public void BadOptionsExitWithAClearMessage(int expected, string option, string value, string message)
    {
        var args = new List<string> { "quant", fx.RecipeFile, "--checkpoint", fx.Baseline, option, value, "--out", fx.Dir("quant-bad") };
        if (option != "--mode") args.AddRange(new[] { "--mode", "post" });
        var (code, error) = TinyRecipeFixture.Slim(args.ToArray());
        Assert.Equal(expected, code);
        Assert.Contains(message, error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("slim: error:", StringComparison.Ordinal));
    }

    [Fact]
    public void MissingCheckpointIsUsageAndAbsentFileIsInvalidInput()
    {
        var (code, error) = TinyRecipeFixture.Slim("quant", fx.RecipeFile, "--mode", "post");
        Assert.Equal((int)ExitCode.Usage, code);
        Assert.Contains("--checkpoint FILE", error);
        (code, error) = TinyRecipeFixture.Slim("quant", fx.RecipeFile, "--checkpoint", fx.Dir("absent.ckpt"), "--mode", "post");
        Assert.Equal((int)ExitCode.InvalidInput, code);
        Assert.Contains("no such checkpoint", error);
    }

    [Fact]
    public void CommandLineValuesOverlayTheRecipesQuantStage()
    {
        var recipe = RecipeLoader.Parse<Recipe>("""
            stages:
              - quant: {mode: aware, algo: mse, calibration_batches: 7, not_quant: [se_block], fine_tune: {iterations: 50, lr: 0.0001}}
            """);
        var s = QuantCommand.Section(recipe, new QuantCommand.Settings(null, "post", null, new[] { "res_conv1,se_block", "yolo_output" }, null, 9, "o", false));
        Assert.Equal(QuantMode.Post, s.Mode);
        Assert.Equal(CalibrationAlgo.Mse, s.Algo);
        Assert.Equal(7, s.CalibrationBatches);
        Assert.Equal(new[] { "res_conv1", "se_block", "yolo_output" }, s.NotQuant);
        Assert.Equal(9, s.FineTune.Iterations);
        Assert.Equal(0.0001, s.FineTune.Lr);
    }
}

/// <summary>`slim quant-analysis`: every quantized layer scored alone, ranked, written as JSON, table and chart.</summary>
public class QuantAnalysisCommandTests(TinyRecipeFixture fx) : IClassFixture<TinyRecipeFixture>
{
    [Fact]
    public void RanksEveryQuantizedLayerMostCostlyFirstAndWritesItsFiles()
    {
        var outDir = fx.Dir("quant-analysis");
        var (code, error) = TinyRecipeFixture.Slim("quant-analysis", fx.RecipeFile, "--checkpoint", fx.Baseline, "--calibration-batches", "2", "--out", outDir);
        Assert.True(code == 0, error);
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, QuantAnalysisStage.JsonName)));
        var layers = json.RootElement.GetProperty("layers").EnumerateArray().ToList();
        // The post-training plan of this detector quantizes every conv but the three output convs (which stay float).
        Assert.True(layers.Count > 40, $"{layers.Count} layers scored");
        var losses = layers.Select(l => l.GetProperty("loss").GetDouble()).ToList();
        Assert.Equal(losses.OrderByDescending(x => x), losses);
        double fp = json.RootElement.GetProperty("float_metric").GetDouble();
        Assert.All(layers, l => Assert.Equal(fp - l.GetProperty("metric").GetDouble(), l.GetProperty("loss").GetDouble(), 9));
        Assert.DoesNotContain(layers, l => l.GetProperty("layer").GetString()!.StartsWith("yolo_output", StringComparison.Ordinal));
        Assert.Contains("quantization analysis: VOC mAP@0.5", File.ReadAllText(Path.Combine(outDir, QuantAnalysisStage.TableName)));
        Assert.True(new FileInfo(Path.Combine(outDir, QuantAnalysisStage.PngName)).Length > 10_000);
        Assert.Equal("post", json.RootElement.GetProperty("mode").GetString());
    }
}

/// <summary>`slim latency-table`: ONNX Runtime's kernel time per layer of an exported model.</summary>
public class LatencyTableCommandTests(TinyRecipeFixture fx) : IClassFixture<TinyRecipeFixture>
{
    [Fact]
    public void EveryConvOfTheExportedModelHasItsTimeAndFusedKernelsCountForTheirConv()
    {
        var onnx = fx.Dir("latency_fp32.onnx");
        ExportStage.ExportCheckpoint(fx.Baseline, onnx);
        var json = fx.Dir("latency.json");
        // 20 warm-up runs for 5 timed ones: counted by mistake they would make the kernels' time per run about 5 times the
        // wall time, far above what a busy machine's slow runs do to the mean (the bound below allows 3 times).
        var (code, error) = TinyRecipeFixture.Slim("latency-table", onnx, "--runs", "5", "--warmup", "20", "--out", json);
        Assert.True(code == 0, error);
        var table = Slim.Export.LayerLatencyTable.FromJson(File.ReadAllText(json), json);
        using var loaded = ModelCheckpoint.Load(fx.Baseline);
        var convs = loaded.Model.named_modules().Where(m => m.module is Slim.Torch.Modules.Conv2d).Select(m => m.name).ToHashSet();
        var timed = table.Layers.Select(l => l.ModulePath).ToHashSet();
        // Conv + activation fused by ONNX Runtime (named after the activation, or renamed by its NCHWc pass) still
        // counts for the conv: no ".act" layer, and every conv is there.
        Assert.DoesNotContain(timed, p => p.EndsWith(".act", StringComparison.Ordinal) || p.EndsWith(".bn", StringComparison.Ordinal));
        Assert.Subset(timed, convs);
        Assert.All(table.Layers, l => Assert.True(l.Ms > 0, $"{l.ModulePath}: {l.Ms} ms"));
        Assert.Equal(5, table.Runs);
        Assert.Equal(20, table.Warmup);
        Assert.True(table.KernelMs <= 3 * table.MedianMs + 0.5, $"kernels {table.KernelMs} ms per run, wall {table.MedianMs} ms: the warm-up runs were counted");
        var (bad, badError) = TinyRecipeFixture.Slim("latency-table", fx.Dir("missing.onnx"));
        Assert.Equal((int)ExitCode.InvalidInput, bad);
        Assert.Contains("missing.onnx: no such ONNX model", badError);
    }
}
