using Slim.Compression.Quantization;
using Slim.Models;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Pipeline;

/// <summary>
/// A tiny detection recipe (MobileNetV1 width 0.25, 64 px, 24 generated training images) with a
/// baseline trained for a few iterations, shared by the quant and distill stage tests.
/// </summary>
public sealed class TinyStageFixture : IDisposable
{
    public TinyStageFixture()
    {
        Root = Directory.CreateTempSubdirectory("slim-stage-").FullName;
        Recipe = Parse();
        Task = DetectionTask.Create(Recipe);
        var run = TrainStage.Run(Task, Path.Combine(Root, "train"), false, NullProgress.Instance, default);
        Baseline = run.Checkpoint;
        BaselineAp = run.Score.Primary;
    }

    public string Root { get; }
    public Recipe Recipe { get; }
    public DetectionTask Task { get; }
    public string Baseline { get; }
    public double BaselineAp { get; }

    /// <summary>The recipe, with extra YAML lines appended to its train section.</summary>
    public Recipe Parse(string trainExtra = "") => RecipeLoader.Parse<Recipe>($"""
        name: tiny
        seed: 3
        model: {"{"}name: yolov3_mobilenet_v1, width: 0.25, input_size: 64{"}"}
        dataset:
          format: synthetic
          root: {Path.Combine(Root, "data")}
          generate: {"{"}train_images: 24, val_images: 8, image_size: 96, min_objects: 1, max_objects: 2{"}"}
          workers: 1
        train:
          iterations: 8
          batch_size: 4
          lr: 0.001
          warmup_steps: 2
          augment: false
        {trainExtra}
        """);

    /// <summary>A context whose stage folder is Root/name; progress lines go to lines when given.</summary>
    public StageContext Context(string name, List<string>? lines = null, bool resume = false, Recipe? recipe = null, DetectionTask? task = null) =>
        new(recipe ?? Recipe, task ?? Task, Path.Combine(Root, name), resume, lines is null ? NullProgress.Instance : new Lines(lines), default);

    /// <summary>
    /// Saves a freshly initialised detector of another architecture or width (with rebuild metadata), seeded by the
    /// recipe: the weights must not depend on which tests ran before (they draw from the same global generator).
    /// </summary>
    public string SaveFresh(string name, string architecture, double width)
    {
        var options = Task.ModelOptions() with { Width = width };
        manual_seed(Recipe.Seed);
        using var model = ModelRegistry.CreateDetector(architecture, options);
        var path = Path.Combine(Root, name);
        Checkpoint.Save(path, model.state_dict(), Task.Metadata(architecture, options));
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }

    private sealed class Lines(List<string> lines) : IProgressSink
    {
        public IProgressTask Start(string description, long total) => NullProgress.Instance.Start(description, total);
        public void Info(string message) => lines.Add(message);
    }
}

public class QuantStageTests(TinyStageFixture fx) : IClassFixture<TinyStageFixture>
{
    private static QuantSection Post(CalibrationAlgo algo = CalibrationAlgo.AbsMax, int batches = 2) => new() { Mode = QuantMode.Post, Algo = algo, CalibrationBatches = batches };

    private static QuantSection Aware(int iterations = 4) => new() { Mode = QuantMode.Aware, FineTune = new FineTuneSection { Iterations = iterations }, FreezeBnAt = 0.5 };

    [Fact]
    public void PostStageWritesScalesTwinAndReport()
    {
        var lines = new List<string>();
        var ctx = fx.Context("post", lines);
        var outcome = QuantStage.Run(ctx, new StageInput(fx.Baseline, fx.Baseline, fx.BaselineAp), Post());

        Assert.Equal("quant", outcome.Stage);
        Assert.Equal(Path.Combine(ctx.StageDir, QuantStage.TwinFileName), outcome.Checkpoint);
        Assert.Equal(Path.Combine(ctx.StageDir, QuantStage.QuantFileName), outcome.QuantizationFile);
        Assert.True(File.Exists(outcome.Checkpoint) && File.Exists(outcome.QuantizationFile));
        Assert.Equal(outcome.Ap, outcome.Extra["ap_after"]);
        Assert.Equal(fx.BaselineAp, outcome.Extra["ap_before"], 9); // the float input, scored as the baseline was

        var (twin, arch, options) = TestCheckpoints.Load(outcome.Checkpoint);
        using (twin)
        {
            Assert.Equal("yolov3_mobilenet_v1", arch);
            Assert.Equal(fx.Task.ModelOptions(), options);
            var convs = twin.named_modules().Where(m => m.module is Conv2d).Select(m => m.name).ToList();
            Assert.Equal(convs.Count, outcome.Extra["quantized_layers"] + outcome.Extra["skipped_layers"]);
            // The three detection outputs stay float by default; everything else is int8.
            Assert.Equal(3, outcome.Extra["skipped_layers"]);

            var quant = QuantStage.ReadQuantizationFile(outcome.QuantizationFile!);
            var specs = quant.Layers.ToDictionary(l => l.ModulePath);
            Assert.Equal(outcome.Extra["quantized_layers"], specs.Count);
            // The normalized image and LeakyReLU outputs go negative: int8. ReLU outputs never do: uint8.
            Assert.Equal(QuantDType.Int8, specs["backbone.conv1.conv"].InputType);
            Assert.Equal(QuantDType.Int8, specs["yolo_block.0.0.1.conv"].InputType);
            Assert.Equal(QuantDType.UInt8, specs["backbone.conv2_1.dw.conv"].InputType);
            int unsigned = specs.Values.Count(s => s.InputType == QuantDType.UInt8);
            Assert.True(unsigned >= 26, $"{unsigned} uint8 inputs; the 26 ReLU-fed backbone convs should all be");
            Assert.DoesNotContain(specs.Keys, k => k.StartsWith("yolo_output", StringComparison.Ordinal));
            foreach (var (path, spec) in specs)
            {
                var conv = Assert.IsType<Conv2d>(twin.get_submodule(path));
                Assert.Equal(conv.out_channels, spec.WeightScales.Length);
                Assert.Equal(0, spec.InputZeroPoint);
                Assert.True(spec.InputScale > 0);
                // Scales are those of the twin's own (folded) weight: max |w_c| / 63 (7-bit weights, the default).
                Assert.Equal(63, spec.WeightQuantMax);
                using var expected = FakeQuant.WeightScales(conv.weight, spec.WeightQuantMax);
                Assert.Equal(expected.ToFloatArray(), spec.WeightScales);
            }
        }

        var report = QuantFile.ReadReport(outcome.QuantizationFile!);
        Assert.Contains(report, r => r.Path == "yolo_output.0.conv" && !r.Quantized && r.Reason == "output layer");
        Assert.Contains(lines, l => l.StartsWith("module", StringComparison.Ordinal) && l.Contains("reason"));
        Assert.Contains(lines, l => l.Contains("yolo_output.2.conv") && l.Contains("output layer"));
        Assert.Contains(lines, l => l.Contains("→"));
        Assert.StartsWith("post abs_max, 2 batches", outcome.Detail);
        // The quantization points are said in one line: the LeakyReLU-fed convs' outputs and the two route concats.
        Assert.Contains(lines, l => l.StartsWith("quant: ", StringComparison.Ordinal) && l.Contains(" conv outputs") && l.Contains("2 concats/adds (4 inputs)"));
    }

    [Theory]
    [InlineData(QuantMode.Post)]
    [InlineData(QuantMode.Aware)]
    public void TwinWithTheFileScalesIsTheFakeQuantModel(QuantMode mode)
    {
        var lines = new List<string>();
        var ctx = fx.Context($"twin-{mode}", lines);
        var section = mode == QuantMode.Aware ? Aware() : Post(CalibrationAlgo.Kl);
        long live = Tensor.LiveCount;
        using (var run = QuantStage.Quantize(ctx, fx.Baseline, section))
        using (var twin = (YoloV3)QuantTwin.Build(DetectionFamily.Instance, run.Model, run.Result, run.Architecture, run.Options))
        {
            var file = Path.Combine(ctx.StageDir, "quant.json");
            QuantFile.Write(file, run.Result, run.Plan, QuantStage.Options(section, DetectionFamily.Instance), "twin.ckpt");
            var quant = QuantStage.ReadQuantizationFile(file);
            var specs = quant.Layers.ToDictionary(l => l.ModulePath);
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            const int images = 32;
            var x = randn(new long[] { images, 3, 64, 64 }, new Generator(5));
            var expected = ((YoloV3)run.Model).call(x);

            // The twin in float equals the quantized model with quantization switched off (folded float).
            var layers = run.Model.modules().OfType<ActivationQuantizer>().ToList();
            foreach (var l in layers) l.QuantizationEnabled = false;
            var folded = ((YoloV3)run.Model).call(x);
            foreach (var l in layers) l.QuantizationEnabled = true;
            var plain = twin.call(x);
            for (int i = 0; i < 3; i++) AssertClose(folded[i], plain[i], 1e-5, $"float twin output {i}");

            // The twin with quantize-dequantize from quant.json on each listed layer (what a QDQ export does).
            // The biases on the int32 grid the file adds them on (Int8Grid.BiasCodes), as the exporter writes them and
            // the fake-quantized layers add them in eval mode.
            foreach (var spec in specs.Values)
            {
                var conv = (Conv2d)twin.get_submodule(spec.ModulePath);
                var bias = spec.FoldedBatchNorm is { } bnPath ? ((BatchNorm2d)twin.get_submodule(bnPath)).bias : conv.bias!;
                var codes = Int8Grid.BiasCodes(bias.ToFloatArray(), spec.InputScale, spec.WeightScales);
                if (codes is null) continue;
                bias.copy_(tensor(codes.Select((k, c) => k * Int8Grid.BiasStep(spec.InputScale, spec.WeightScales[c])).ToArray(), codes.Length));
            }
            // The quantization points too: conv outputs at the batch-norm slots, concat inputs.
            Assert.Contains(quant.Activations, a => a.Path == "yolo_block.0.0.0.bn");
            Assert.Contains(quant.Activations, a => a.Path == "concat.0.input0");
            Assert.Contains(quant.Activations, a => a.Path == "concat.1.input1");
            var hooks = specs.Values.Select(s => Qdq(twin, s)).Concat(QdqPoints(twin, quant.Activations)).ToList();
            var actual = twin.call(x);
            foreach (var h in hooks) h.Dispose();
            // Both sides round the same float values, but the two computations accumulate in different orders:
            // where a value lies within float error of a rounding boundary one code flips, and the flip cascades
            // through the layers after it (measured: about one image in ten, up to 1e-2 off; which images flip
            // depends on the batch, whose size changes libtorch's accumulation order). Images are independent,
            // so: nearly every image exact, counted over enough images that a few flips do not decide.
            int exact = 0;
            var worst = new double[images];
            for (int n = 0; n < images; n++)
            {
                bool same = true;
                for (int i = 0; i < 3; i++)
                {
                    double scale = Math.Max(1, expected[i][n].abs().max().item<float>());
                    double diff = (expected[i][n] - actual[i][n]).abs().max().item<float>() / scale;
                    worst[n] = Math.Max(worst[n], diff);
                    same &= diff <= 1e-5;
                }
                if (same) exact++;
            }
            Assert.True(exact >= images * 3 / 4, $"only {exact} of {images} images give the fake-quantized model's outputs (to 1e-5) through the file's scales; " +
                $"relative differences per image: {string.Join(", ", worst.Select(w => w.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)))}");
            // Quantization changes the outputs measurably (the check above is not float vs float).
            Assert.True((expected[0] - folded[0]).abs().max().item<float>() > 1e-4);
        }
        Assert.Equal(live, Tensor.LiveCount);
        if (mode == QuantMode.Aware) Assert.Contains(lines, l => l.Contains("frozen at iteration 2"));
    }

    // Replaces the output of the Conv2d at spec.ModulePath by conv(fq(x), fq_c(w)) + bias, computed
    // from the file's scales with ATen's own fake-quantize ops, independently of QuantConv2d.
    private static IDisposable Qdq(nn.Module model, QuantizedLayer spec)
    {
        var conv = (Conv2d)model.get_submodule(spec.ModulePath);
        return conv.register_forward_hook((m, input, _) =>
        {
            // The grids are the type's, as ONNX QuantizeLinear saturates: int8 [-128, 127], uint8 [0, 255]; weights the record's.
            var x = FakeQuant.PerTensor((Tensor)input, spec.InputScale, spec.InputType == QuantDType.UInt8);
            using var scales = tensor(spec.WeightScales, spec.WeightScales.Length);
            using var zeroPoints = zeros(new long[] { spec.WeightScales.Length }, ScalarType.Int32);
            using var w = AtenOp.Get("aten::fake_quantize_per_channel_affine").Tensor(conv.weight, scales, zeroPoints, 0L, spec.WeightQuantMin, spec.WeightQuantMax);
            var y = F.conv2d(x, w, conv.bias, new[] { conv.stride, conv.stride }, new[] { conv.padding, conv.padding },
                new[] { conv.dilation, conv.dilation }, conv.groups);
            x.Dispose();
            return y;
        });
    }

    // QuantizeLinear's computation (x / scale, rounded, clamped to the type), as the fake quantizer computes it without gradient.
    private static Tensor FakeQuantize(Tensor x, QuantizedActivation p) => FakeQuant.PerTensor(x, p.Scale, p.Type == QuantDType.UInt8);

    /// <summary>Quantize-dequantize at each point of the file: a batch norm's output, or the inputs of a concat (one hook per concat).</summary>
    private static IEnumerable<IDisposable> QdqPoints(nn.Module model, IReadOnlyList<QuantizedActivation> points)
    {
        foreach (var p in points.Where(p => !p.Path.Contains(".input", StringComparison.Ordinal)))
            yield return model.get_submodule(p.Path).register_forward_hook((m, input, output) => FakeQuantize((Tensor)output, p));
        foreach (var group in points.Where(p => p.Path.Contains(".input")).GroupBy(p => p.Path[..p.Path.LastIndexOf(".input", StringComparison.Ordinal)]))
        {
            var merge = (Merge)model.get_submodule(group.Key);
            var byInput = group.ToDictionary(p => int.Parse(p.Path[(p.Path.LastIndexOf(".input", StringComparison.Ordinal) + 6)..]));
            yield return merge.register_forward_hook((m, input, output) =>
                merge.Combine(((Tensor[])input).Select((x, i) => byInput.TryGetValue(i, out var p) ? FakeQuantize(x, p) : x).ToArray()));
        }
    }

    private static void AssertClose(Tensor a, Tensor b, double tolerance, string what)
    {
        Assert.Equal(a.shape, b.shape);
        // Relative to the outputs' magnitude: raw head logits reach tens, where float32 has ~1e-6 steps.
        double diff = (a - b).abs().max().item<float>();
        double scale = Math.Max(1, a.abs().max().item<float>());
        Assert.True(diff <= tolerance * scale, $"{what}: max |difference| {diff} at magnitude {scale}");
    }

    [Fact]
    public void NotQuantPatternMatchingNothingListsModulePaths()
    {
        var ctx = fx.Context("bad-pattern");
        var section = Post();
        section.NotQuant = new List<string> { "se_blok" };
        var e = Assert.Throws<QuantizationException>(() => QuantStage.Run(ctx, new StageInput(fx.Baseline, fx.Baseline, 0), section));
        Assert.Contains("'se_blok' matches no module path", e.Message);
        Assert.Contains("backbone.conv1", e.Message);
        Assert.False(File.Exists(Path.Combine(ctx.StageDir, QuantStage.QuantFileName)));
    }

    [Fact]
    public void NotQuantKeepsMatchingLayersInFloat()
    {
        var ctx = fx.Context("not-quant");
        var section = Post();
        section.NotQuant = new List<string> { "yolo_block.0" };
        using var run = QuantStage.Quantize(ctx, fx.Baseline, section);
        var skipped = run.Plan.Layers.Where(l => l.Path.Contains("yolo_block.0")).ToList();
        Assert.NotEmpty(skipped);
        Assert.All(skipped, l => Assert.Equal("not_quant pattern 'yolo_block.0'", l.Reason));
        Assert.All(run.Result.Layers, l => Assert.DoesNotContain("yolo_block.0", l.ModulePath));
    }

    [Fact]
    public void CheckpointOfAnotherArchitectureIsAClearError()
    {
        var ctx = fx.Context("other-arch");
        var wider = fx.SaveFresh("wider.ckpt", "yolov3_mobilenet_v1", 0.5);
        var e = Assert.Throws<QuantizationException>(() => QuantStage.Run(ctx, new StageInput(wider, wider, 0), Post()));
        Assert.Contains("does not match the model's architecture", e.Message);
        Assert.Contains("shape mismatch", e.Message);

        var v3 = fx.SaveFresh("v3.ckpt", "yolov3_mobilenet_v3_small", 0.25);
        e = Assert.Throws<QuantizationException>(() => QuantStage.Run(ctx, new StageInput(v3, v3, 0), Post()));
        Assert.Contains("is a yolov3_mobilenet_v3_small but the recipe's model is yolov3_mobilenet_v1", e.Message);

        e = Assert.Throws<QuantizationException>(() => QuantStage.Run(ctx, new StageInput(Path.Combine(fx.Root, "nope.ckpt"), "", 0), Post()));
        Assert.Contains("no such checkpoint", e.Message);
    }

    [Fact]
    public void EmptyCalibrationSetIsAClearError()
    {
        // 24 training images never fill one batch of 32.
        var recipe = fx.Parse();
        recipe.Train.BatchSize = 32;
        var task = DetectionTask.Create(recipe);
        var ctx = fx.Context("empty-calibration", recipe: recipe, task: task);
        var e = Assert.Throws<QuantizationException>(() => QuantStage.Run(ctx, new StageInput(fx.Baseline, fx.Baseline, 0), Post()));
        Assert.Contains("no calibration data", e.Message);
        Assert.Contains("has 24 images, fewer than one batch of 32", e.Message);
    }

    [Fact]
    public void AwareWithoutIterationsIsAClearError()
    {
        var e = Assert.Throws<QuantizationException>(() => QuantStage.Run(fx.Context("aware-0"), new StageInput(fx.Baseline, fx.Baseline, 0), Aware(0)));
        Assert.Contains("quant.fine_tune.iterations is 0", e.Message);
    }

    [Fact]
    public void InterruptedAwareRunResumesWithBatchNormFrozenAgain()
    {
        var input = new StageInput(fx.Baseline, fx.Baseline, 0);
        var straight = QuantStage.Run(fx.Context("aware-straight"), input, Aware(6));

        // Interrupt right after the freeze (before step 3): the trainer saves at iteration 4 and stops.
        using var cts = new CancellationTokenSource();
        var lines = new List<string>();
        var progress = new CancelOn(lines, "frozen at iteration 3", cts);
        var dir = Path.Combine(fx.Root, "aware-interrupted");
        var ctx = new StageContext(fx.Recipe, fx.Task, dir, false, progress, cts.Token);
        Assert.Throws<OperationCanceledException>(() => QuantStage.Run(ctx, input, Aware(6)));
        Assert.Equal("4", Checkpoint.ReadMetadata(Path.Combine(dir, "qat", Trainer.LastName))["train.iteration"]);

        // The freeze is not in the checkpoint: the resumed run must apply it again before its first step.
        lines.Clear();
        var resumed = QuantStage.Run(new StageContext(fx.Recipe, fx.Task, dir, true, progress, default), input, Aware(6));
        Assert.Contains(lines, l => l.Contains("frozen at iteration 4"));
        Assert.Equal(File.ReadAllText(straight.QuantizationFile!), File.ReadAllText(resumed.QuantizationFile!));
        var (a, _, _) = TestCheckpoints.Load(straight.Checkpoint);
        var (b, _, _) = TestCheckpoints.Load(resumed.Checkpoint);
        using (a)
        using (b)
            foreach (var (name, t) in a.state_dict()) Assert.True(t.equal(b.state_dict()[name]), $"{name} differs after resume");
    }

    private sealed class CancelOn(List<string> lines, string trigger, CancellationTokenSource cts) : IProgressSink
    {
        public IProgressTask Start(string description, long total) => NullProgress.Instance.Start(description, total);
        public void Info(string message)
        {
            lines.Add(message);
            if (message.Contains(trigger)) cts.Cancel();
        }
    }

    private static QuantDocument SampleDocument()
    {
        var conv = new QuantizedLayer
        {
            ModulePath = "backbone.conv1.conv", LayerType = "Conv2d", WeightParameter = "backbone.conv1.conv.weights",
            FoldedBatchNorm = "backbone.conv1.bn", WeightShape = new long[] { 2, 1, 2, 2 },
            // Values whose shortest decimal forms need all 9 significant digits.
            WeightScales = new[] { 0.1f / 3, MathF.PI / 1000 }, InputScale = 1f / 127, InputType = QuantDType.Int8,
            Stride = 2, Padding = 1, Dilation = 1, Groups = 1,
        };
        var linear = conv with
        {
            ModulePath = "fc", LayerType = "Linear", WeightParameter = "fc.weight", BiasParameter = "fc.bias", FoldedBatchNorm = null,
            WeightShape = new long[] { 2, 4 }, WeightScales = new[] { 1e-7f, 3.4e38f }, InputScale = 123.456f,
            InputType = QuantDType.UInt8, InputZeroPoint = 128, Stride = 1, Padding = 0,
        };
        var points = new[]
        {
            new QuantizedActivation { Path = "backbone.conv1.bn", Scale = 0.1f / 7, Type = QuantDType.Int8 },
            new QuantizedActivation { Path = "concat.0.input1", Scale = 2.5e-3f, Type = QuantDType.UInt8 },
        };
        var result = new QuantizationResult(QuantMode.Post, "kl", new[] { conv, linear }, null, points);
        var plan = new QuantizationPlan(new[]
        {
            new QuantLayerDecision("backbone.conv1.conv", "Conv2d", true, QuantizationPlan.QuantizedReason, "backbone.conv1.bn"),
            new QuantLayerDecision("fc", "Linear", true, QuantizationPlan.QuantizedReason, null),
            new QuantLayerDecision("yolo_output.0.conv", "Conv2d", false, "output layer", null),
        }, new[]
        {
            new QuantPointDecision("backbone.conv1.bn", QuantPointKind.ConvOutput, 1, "output of backbone.conv1.conv (read by leaky_relu), for QLinearConv"),
            new QuantPointDecision("concat.0", QuantPointKind.MergeInputs, 2, "2 concat inputs, for QLinearConcat"),
        });
        return QuantFile.Document(result, plan, new QuantizationOptions { Algorithm = CalibrationAlgo.Kl, NotQuant = new[] { "se_block" } }, "/somewhere/twin.ckpt");
    }

    [Fact]
    public void QuantFileRoundTripsTheRecordsWhole()
    {
        var written = SampleDocument();
        var path = Path.Combine(fx.Root, "roundtrip", "quant.json");
        QuantFile.Write(path, written);

        var read = QuantFile.Read(path);
        // Every record reads back equal, scales to the last bit.
        Assert.Equal(written.Layers, read.Layers);
        Assert.Equal(written.Report, read.Report);
        Assert.Equal(written.NotQuant, read.NotQuant);
        Assert.Equal(written.Activations, read.Activations);
        Assert.Equal(written.PointReport, read.PointReport);
        Assert.Equal(written with { Layers = read.Layers, Report = read.Report, NotQuant = read.NotQuant, Activations = read.Activations, PointReport = read.PointReport }, read);
        Assert.Equal("twin.ckpt", read.TwinCheckpoint);
        Assert.Null(read.Percentile); // kl: no percentile
        Assert.Equal(QuantFile.Version, read.Version);
        Assert.Equal(new[] { "backbone.conv1.conv", "fc" }, QuantStage.ReadQuantizationFile(path).Layers.Select(l => l.ModulePath));
        Assert.Equal(written.Report, QuantFile.ReadReport(path));

        var text = File.ReadAllText(path);
        Assert.Contains("\"version\": 3", text);
        Assert.Contains("\"mode\": \"post\"", text);
        Assert.Contains("\"input_type\": \"uint8\"", text);
        Assert.Contains("\"weight_quant_min\": -127", text);
        Assert.DoesNotContain("\"weight\":", text); // weights are the twin's, not the file's
    }

    [Fact]
    public void QuantFileRefusesOtherVersionsMissingOrUnknownFieldsAndBadRecordsNamingTheFile()
    {
        var dir = Path.Combine(fx.Root, "bad-files");
        var good = Path.Combine(dir, "good.json");
        QuantFile.Write(good, SampleDocument());
        int n = 0;
        void Refused(Action<System.Text.Json.Nodes.JsonObject>? edit, string expected, string? raw = null)
        {
            var path = Path.Combine(dir, $"bad{n++}.json");
            if (raw is not null) File.WriteAllText(path, raw);
            else
            {
                var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(good))!.AsObject();
                edit!(json);
                File.WriteAllText(path, json.ToJsonString());
            }
            var e = Assert.Throws<QuantizationException>(() => QuantFile.Read(path));
            Assert.Contains(path, e.Message);
            Assert.Contains(expected, e.Message);
        }
        static System.Text.Json.Nodes.JsonObject Layer0(System.Text.Json.Nodes.JsonObject j) => j["layers"]![0]!.AsObject();

        var absent = Assert.Throws<QuantizationException>(() => QuantFile.Read(good + ".absent"));
        Assert.Contains(good + ".absent", absent.Message);
        Assert.Contains("no such quantization file", absent.Message);
        Refused(null, "not valid JSON", raw: "{ not json");
        Refused(null, "not a Slim quantization file", raw: """{"format": "other"}""");
        // A version 1 file (written field by field before the record was serialised whole) is refused by its version.
        Refused(null, "version 1 is not supported (this Slim reads version 3)",
            raw: """{"format": "slim.quant", "version": 1, "layers": [{"module": "a", "weight_scales": [0.1], "input_scale": 0.1, "input_zero_point": 0, "input_dtype": "int8"}]}""");
        Refused(j => j["version"] = 2, "version 2 is not supported");
        Refused(j => j["version"] = 4, "version 4 is not supported");
        Refused(j => Layer0(j).Remove("input_scale"), "input_scale");
        Refused(j => Layer0(j).Remove("bias_parameter"), "bias_parameter"); // null is a value; absent is not
        Refused(j => j.Remove("report"), "report");
        Refused(j => Layer0(j)["input_dtype"] = "int8", "input_dtype");   // a key this version does not know
        Refused(j => Layer0(j)["input_type"] = "int4", "input_type");
        Refused(j => Layer0(j)["weight_scales"] = new System.Text.Json.Nodes.JsonArray(0.1, -0.2), "layers[0]: backbone.conv1.conv: weight_scales[1] = -0.2");
        Refused(j => Layer0(j)["weight_scales"] = new System.Text.Json.Nodes.JsonArray(0.1), "weight_scales has 1 values; expected one per output channel (2)");
        Refused(j => Layer0(j)["input_zero_point"] = 200, "input_zero_point = 200 lies outside [-128, 127]");
        Refused(j => j["layers"]![1]!["module_path"] = "backbone.conv1.conv", "listed twice");
        Refused(j => j["activations"]![0]!["scale"] = 0, "activations[0]: backbone.conv1.bn: scale = 0");
        Refused(j => j["activations"]![1]!["path"] = "backbone.conv1.bn", "quantization point 'backbone.conv1.bn' is listed twice");
        Refused(j => j["activations"]![1]!["type"] = "int4", "type");
        Refused(j => j.Remove("activations"), "activations");
    }

    [Fact]
    public void AwareStageResumesFromItsCheckpoint()
    {
        var ctx = fx.Context("aware-resume");
        var first = QuantStage.Run(ctx, new StageInput(fx.Baseline, fx.Baseline, 0), Aware(4));
        var qatLast = Path.Combine(ctx.StageDir, "qat", Trainer.LastName);
        Assert.True(File.Exists(qatLast));
        var json = File.ReadAllText(first.QuantizationFile!);
        // Resuming a finished fine-tune trains nothing more and reproduces the same scales.
        var lines = new List<string>();
        var again = QuantStage.Run(fx.Context("aware-resume", lines, resume: true), new StageInput(fx.Baseline, fx.Baseline, 0), Aware(4));
        Assert.Equal(json, File.ReadAllText(again.QuantizationFile!));
        Assert.Equal(first.Ap, again.Ap);
        Assert.StartsWith("aware, 4 it", first.Detail);
    }
}
