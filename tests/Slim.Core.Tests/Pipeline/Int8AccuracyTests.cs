using Slim.Compression.Quantization;
using Slim.Pipeline;
using Slim.Recipes;
using Xunit.Abstractions;

namespace Slim.Core.Tests.Pipeline;

/// <summary>
/// A small detector trained long enough to find objects (YOLOv3-MobileNetV1 width 0.25, 96 px, detection images
/// generated from Fashion-MNIST), so AP says something: the baseline the INT8 accuracy tests quantize.
/// </summary>
public sealed class DetectorWithAp : IDisposable
{
    public DetectorWithAp()
    {
        Requires.FashionMnistData();
        Root = Directory.CreateTempSubdirectory("slim-int8-ap-").FullName;
        Recipe = RecipeLoader.Parse<Recipe>($$"""
            name: int8-ap
            seed: 2
            model: {name: yolov3_mobilenet_v1, width: 0.25, input_size: 96}
            dataset:
              format: synthetic
              root: {{Path.Combine(Root, "data")}}
              generate: {train_images: 160, val_images: 48, image_size: 96, seed: 3, min_objects: 1, max_objects: 2}
              workers: 1
            train: {iterations: 500, batch_size: 8, optimizer: momentum, lr: 0.004, warmup_steps: 30, boundaries: [0.8], augment: false, metric: voc}
            """);
        Task = DetectionTask.Create(Recipe);
        var run = TrainStage.Run(Task, Path.Combine(Root, "train"), false, NullProgress.Instance, CancellationToken.None);
        Baseline = run.Checkpoint;
        BaselineAp = run.Score.Primary;
    }

    public string Root { get; }
    public Recipe Recipe { get; }
    public DetectionTask Task { get; }
    public string Baseline { get; }
    public double BaselineAp { get; }

    public StageContext Context(string name) => new(Recipe, Task, Path.Combine(Root, name), false, NullProgress.Instance, CancellationToken.None);

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}

/// <summary>
/// INT8 in ONNX Runtime scores what the fake-quantized model scores, at AP level on the validation images, for
/// quantization-aware training and for every calibration algorithm: the file computes the simulated network
/// (conv outputs, LeakyReLUs, upsamples and concats in int8 included), not merely something close to FP32.
/// </summary>
public class Int8AccuracyTests(DetectorWithAp fx, ITestOutputHelper output) : IClassFixture<DetectorWithAp>
{
    [SkippableTheory]
    [InlineData(QuantMode.Post, CalibrationAlgo.AbsMax)]
    [InlineData(QuantMode.Post, CalibrationAlgo.Avg)]
    [InlineData(QuantMode.Post, CalibrationAlgo.Hist)]
    [InlineData(QuantMode.Post, CalibrationAlgo.Kl)]
    [InlineData(QuantMode.Post, CalibrationAlgo.Mse)]
    [InlineData(QuantMode.Aware, CalibrationAlgo.Hist)]
    public void Int8InOnnxRuntimeScoresTheFakeQuantizedApWithinHalfAPoint(QuantMode mode, CalibrationAlgo algo)
    {
        Requires.FashionMnistData();
        Assert.True(fx.BaselineAp >= 0.10, $"the baseline reaches only {fx.BaselineAp:P1} VOC AP; the comparison needs a model that detects");
        var section = mode == QuantMode.Aware
            ? new QuantSection { Mode = QuantMode.Aware, FineTune = new FineTuneSection { Iterations = 30, Lr = 0.0002 }, FreezeBnAt = 0.5 }
            : new QuantSection { Mode = QuantMode.Post, Algo = algo, CalibrationBatches = 4 };
        var ctx = fx.Context($"{mode}-{algo}");
        var quant = QuantStage.Run(ctx, new StageInput(fx.Baseline, fx.Baseline, fx.BaselineAp), section);
        var int8 = Path.Combine(ctx.StageDir, "model_int8.onnx");
        ExportStage.ExportCheckpoint(quant.Checkpoint, int8, quant: QuantStage.ReadQuantizationFile(quant.QuantizationFile!), family: DetectionFamily.Instance);
        double fakeQuant = quant.Ap, ort = fx.Task.EvaluateOnnx(int8, 2).Primary;
        output.WriteLine($"{mode} {algo}: float {fx.BaselineAp * 100:F2}, fake-quant {fakeQuant * 100:F2}, INT8 ONNX Runtime {ort * 100:F2}");
        Assert.True(Math.Abs(ort - fakeQuant) <= 0.005, $"INT8 in ONNX Runtime {ort * 100:F2} vs fake-quant {fakeQuant * 100:F2}: more than 0.5 points apart");
        // The quantized model is a real one: within reach of the float model.
        Assert.True(fakeQuant >= fx.BaselineAp - 0.05, $"fake-quant {fakeQuant * 100:F2} fell more than 5 points below float {fx.BaselineAp * 100:F2}");
    }
}
