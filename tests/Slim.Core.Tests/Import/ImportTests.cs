using System.Diagnostics;
using Slim.Import;
using Slim.Models;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Import;

/// <summary>
/// Weights written by Debian's python3-torch / torchvision / numpy, read back by Slim: the files' tensors exactly, and
/// torchvision classifiers whose imported twins compute the same outputs.
/// </summary>
public sealed class ImportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-import-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Runs a script with the system python3 in the test folder; skips the test when python3 or a module is missing.</summary>
    private void Python(string script, params string[] modules)
    {
        const string python = "/usr/bin/python3";
        Skip.IfNot(File.Exists(python), $"{python} is not installed (Debian package python3)");
        var path = Path.Combine(_dir, "script.py");
        File.WriteAllText(path, $"import sys\ntry:\n    import {string.Join(", ", modules)}\nexcept ImportError as e:\n    print(e, file=sys.stderr); sys.exit(3)\n{script}");
        var psi = new ProcessStartInfo(python, path) { WorkingDirectory = _dir, RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Skip.If(p.ExitCode == 3, $"python3 lacks {string.Join("/", modules)} ({err.Trim()}; Debian packages python3-torch, python3-torchvision)");
        Assert.True(p.ExitCode == 0, $"reference script failed: {err}");
        _ = stdout.Result;
    }

    // Python helpers for the Paddle tests: put() writes a tensor filled with its own numbers and the Slim name it must land
    // on; unit() a conv and its batch norm under Paddle's names (conv, bn: the two layers' names in that model).
    private const string PaddlePrelude = """
        import pickle, json
        state, expect = {}, {}
        bn_to = {"weight": "scale", "bias": "offset", "_mean": "mean", "_variance": "var"}
        def put(name, shape, slim):
            n = len(state)
            state[name] = (numpy.arange(numpy.prod(shape), dtype=numpy.float32) % 1009 + n * 1000).reshape(shape)
            expect[name] = slim
        def unit(paddle, conv, bn, slim, cin, cout, k, groups=1):
            put(f"{paddle}.{conv}.weight", (cout, cin // groups, k, k), slim + ".conv.weights")
            for t in bn_to:
                put(f"{paddle}.{bn}.{t}", (cout,), f"{slim}.bn.{bn_to[t]}")
        # PaddleDetection's YOLOv3FPN neck (necks/yolo_fpn.py: 512, 256, 128 channels whatever the backbone) and YOLOv3 head
        # for 80 classes, on the backbone's three maps (channels deepest first).
        def yolo_neck_and_head(features):
            for i, (feature, ch) in enumerate(zip(features, [512, 256, 128])):
                cin = feature + (ch if i else 0)
                for paddle, slim, a, b, k in [("conv0", "0.0", cin, ch, 1), ("conv1", "0.1", ch, 2 * ch, 3), ("conv2", "1.0", 2 * ch, ch, 1),
                                              ("conv3", "1.1", ch, 2 * ch, 3), ("route", "2", 2 * ch, ch, 1)]:
                    unit(f"neck.yolo_block.{i}.conv_module.{paddle}", "conv", "batch_norm", f"yolo_block.{i}.{slim}", a, b, k)
                unit(f"neck.yolo_block.{i}.tip", "conv", "batch_norm", f"yolo_block.{i}.tip", ch, 2 * ch, 3)
                if i < 2:
                    unit(f"neck.yolo_transition.{i}", "conv", "batch_norm", f"yolo_transition.{i}", ch, ch // 2, 1)
            for i, cin in enumerate([1024, 512, 256]):
                put(f"yolo_head.yolo_output.{i}.weight", (255, cin, 1, 1), f"yolo_output.{i}.conv.weights")
                put(f"yolo_head.yolo_output.{i}.bias", (255,), f"yolo_output.{i}.conv.bias")
        def save(path):
            with open(path, "wb") as f:
                pickle.dump(state, f, protocol=4)
            json.dump(expect, open("expect.json", "w"))

        """;

    private static Dictionary<string, SourceTensor> ByName(string path) => PickledWeights.Read(path).ToDictionary(t => t.Name);

    // Every tensor the script listed in expect.json (Paddle name → Slim name) holds exactly its source values in the model.
    private void AssertEachLands(IReadOnlyList<SourceTensor> source, torch.nn.Module model)
    {
        var expect = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(Path.Combine(_dir, "expect.json")))!;
        var state = model.state_dict();
        Assert.NotEmpty(expect);
        foreach (var t in source.Where(t => expect.ContainsKey(t.Name)))
            Assert.True(t.Values.AsSpan().SequenceEqual(state[expect[t.Name]].data<float>()), $"{t.Name} did not land on {expect[t.Name]}");
    }

    [SkippableTheory]
    [InlineData("mobilenet_v2")]
    [InlineData("mobilenet_v3_large")]
    [InlineData("mobilenet_v3_small")]
    [InlineData("resnet18")]
    [InlineData("resnet50")]
    public void ATorchvisionClassifierImportedComputesWhatItComputesInTorch(string name)
    {
        Python($$"""
            torch.manual_seed(0)
            m = torchvision.models.{{name}}(num_classes=7).eval()
            with torch.no_grad():
                for mod in m.modules():
                    if isinstance(mod, torch.nn.BatchNorm2d):
                        mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
                        mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
            torch.save(m.state_dict(), "weights.pth")
            torch.save(m.state_dict(), "legacy.pth", _use_new_zipfile_serialization=False)
            x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                y = m(x)
            torch.save({"x": x, "y": y}, "io.pth")
            """, "torch", "torchvision");
        var source = PickledWeights.Read(Path.Combine(_dir, "weights.pth"));
        // In the file's order (the state dict's), which pickle's SETITEMS does not keep by itself.
        Assert.Equal(name.StartsWith("mobilenet", StringComparison.Ordinal) ? "features.0.0.weight" : "conv1.weight", source[0].Name);
        Assert.Equal(name switch { "mobilenet_v2" => "classifier.1.bias", "mobilenet_v3_large" or "mobilenet_v3_small" => "classifier.3.bias", _ => "fc.bias" }, source[^1].Name);
        Assert.Equal(WeightFormat.Torch, PickledWeights.Detect(Path.Combine(_dir, "legacy.pth")));
        var legacy = PickledWeights.Read(Path.Combine(_dir, "legacy.pth"));
        Assert.Equal(source.Select(t => (t.Name, string.Join(",", t.Shape))), legacy.Select(t => (t.Name, string.Join(",", t.Shape))));
        Assert.All(source.Zip(legacy), p => Assert.Equal(p.First.Values, p.Second.Values));

        var map = WeightMap.For(name, WeightFormat.Torch)!;
        Assert.Equal(ModelLayout.Torchvision, map.Layout);
        using var model = ModelRegistry.CreateClassifier(name, new ModelOptions { NumClasses = 7, Width = 1, InputSize = 64, Layout = map.Layout });
        var report = WeightImporter.Import(model, source, map);
        Assert.Empty(report.LeftAtInit);
        Assert.All(report.Unused, u => Assert.EndsWith("num_batches_tracked", u.Source));
        model.eval();

        var io = ByName(Path.Combine(_dir, "io.pth"));
        using var x = tensor(io["x"].Values, io["x"].Shape);
        using var y = model.forward(x);
        var got = y.data<float>();
        var want = io["y"].Values;
        Assert.Equal(io["y"].Shape, y.shape);
        double scale = want.Max(v => Math.Abs(v));
        double worst = got.Zip(want).Max(p => Math.Abs(p.First - p.Second)) / scale;
        Assert.True(worst < 1e-4, $"{name}: largest difference {worst:E2} of the largest output {scale:F3}");
    }

    [SkippableFact]
    public void TorchTensorsOfEveryLayoutAndTypeAreReadExactly()
    {
        Python("""
            a = torch.arange(12, dtype=torch.float32).reshape(3, 4)
            state = {"plain": a, "transposed": a.t(), "sliced": a[1:, 1:3], "double": a.double() / 3,
                     "half": (a / 8).half(), "long": torch.tensor([5, -7]), "scalar": torch.tensor(2.5)}
            torch.save({"state_dict": state, "epoch": 3}, "nested.pth")
            torch.save({"module.w": a, "module.b": a[0]}, "parallel.pth")
            torch.save(torch.nn.Linear(2, 2), "whole.pth")
            """, "torch");
        // DataParallel's module. prefix dropped; a pickled module (not its state dict) refused saying what to save.
        Assert.Equal(new[] { "w", "b" }, PickledWeights.Read(Path.Combine(_dir, "parallel.pth")).Select(x => x.Name));
        Assert.Contains("save model.state_dict()", Assert.Throws<InvalidDataException>(() => PickledWeights.Read(Path.Combine(_dir, "whole.pth"))).Message);
        // Damaged files are refused naming the file, whatever the reader stumbled on.
        var bytes = File.ReadAllBytes(Path.Combine(_dir, "nested.pth"));
        foreach (var (cut, label) in new[] { (bytes.Length / 2, "half"), (200, "head") })
        {
            var damaged = Path.Combine(_dir, $"cut-{label}.pth");
            File.WriteAllBytes(damaged, bytes[..cut]);
            Assert.StartsWith(damaged + ": ", Assert.Throws<InvalidDataException>(() => PickledWeights.Read(damaged)).Message);
        }
        var t = ByName(Path.Combine(_dir, "nested.pth"));
        float[] a = Enumerable.Range(0, 12).Select(i => (float)i).ToArray();
        Assert.Equal(a, t["plain"].Values);
        Assert.Equal(new long[] { 4, 3 }, t["transposed"].Shape);
        Assert.Equal(new float[] { 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11 }, t["transposed"].Values);
        Assert.Equal(new float[] { 5, 6, 9, 10 }, t["sliced"].Values);
        Assert.Equal(a.Select(v => (float)(v / 3.0)).ToArray(), t["double"].Values);
        Assert.Equal(a.Select(v => v / 8).ToArray(), t["half"].Values); // eighths are exact in half precision
        Assert.Equal(new float[] { 5, -7 }, t["long"].Values);
        Assert.Empty(t["scalar"].Shape);
        Assert.Equal(new[] { 2.5f }, t["scalar"].Values);
    }

    [SkippableTheory]
    [InlineData(2)]
    [InlineData(4)]
    public void PaddleStyleNumpyPicklesAreReadWithEveryArrayInPlace(int protocol)
    {
        Python($$$"""
            import pickle
            w = numpy.arange(6, dtype=numpy.float32).reshape(2, 3)
            state = {"conv1_weights": w, "fc_0.w_0": numpy.asfortranarray(w), "bn_mean": numpy.array([1.5, -2.0], dtype=numpy.float64),
                     "StructuredToParameterName@@": {"conv1_weights": "conv2d_0.w_0"}}
            with open("model.pdparams", "wb") as f:
                pickle.dump(state, f, protocol={{{protocol}}})
            # paddle.save of a nested object: each tensor as tuple(((name, ndarray),)), beside other values.
            class Saved:
                def __init__(self, name, array): self.name, self.array = name, array
                def __reduce__(self): return (tuple, ((self.name, self.array),))
            with open("checkpoint.pdparams", "wb") as f:
                pickle.dump({"model": {"conv1_weights": Saved("conv2d_0.w_0", w)}, "epoch": 100}, f, protocol={{{protocol}}})
            with open("cut.pdparams", "wb") as f:
                f.write(pickle.dumps(state, protocol={{{protocol}}})[:120])
            """, "numpy");
        var nested = PickledWeights.Read(Path.Combine(_dir, "checkpoint.pdparams"));
        Assert.Equal("conv1_weights", Assert.Single(nested).Name);
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5 }, nested[0].Values);
        var cut = Path.Combine(_dir, "cut.pdparams");
        Assert.StartsWith(cut + ": not a readable Paddle state dict", Assert.Throws<InvalidDataException>(() => PickledWeights.Read(cut)).Message);
        var path = Path.Combine(_dir, "model.pdparams");
        Assert.Equal(WeightFormat.Paddle, PickledWeights.Detect(path));
        var t = ByName(path);
        Assert.Equal(new[] { "bn_mean", "conv1_weights", "fc_0.w_0" }, t.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5 }, t["conv1_weights"].Values);
        Assert.Equal(new long[] { 2, 3 }, t["conv1_weights"].Shape);
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5 }, t["fc_0.w_0"].Values); // Fortran order read back row-major
        Assert.Equal(new float[] { 1.5f, -2 }, t["bn_mean"].Values);
    }

    [Fact]
    public void AMappingFileMapsTransposesAndDropsAndAMisfitNamesBothShapes()
    {
        var map = Path.Combine(_dir, "map.yml");
        File.WriteAllText(map, """
            rules:
              - {from: '^fc_0\.w_0$', to: 'fc.weights', transpose: true}
              - {from: '^fc_0\.b_0$', to: 'fc.bias'}
              - {from: '_moment', to: null, why: optimizer state}
            mean: [0.5, 0.5, 0.5]
            std: [0.25, 0.25, 0.25]
            """);
        var m = WeightMap.FromFile(map);
        Assert.Equal(new Mapped("fc.weights", null, true), m.Map("fc_0.w_0"));
        Assert.Equal("optimizer state", m.Map("fc_0.w_0_moment1").Skipped);
        Assert.Null(m.Map("conv1").Target);
        Assert.Equal(new[] { 0.5f, 0.5f, 0.5f }, m.Normalization!.Value.Mean);

        using var model = ModelRegistry.CreateClassifier("mobilenet_v1", new ModelOptions { NumClasses = 3, Width = 0.25, InputSize = 32 });
        int features = (int)model.state_dict()["fc.weights"].shape[1];
        var w = Enumerable.Range(0, features * 3).Select(i => (float)i).ToArray();
        var source = new[]
        {
            new SourceTensor("fc_0.w_0", [features, 3], w, "f4"), // Paddle's fc weight is [in, out]
            new SourceTensor("fc_0.b_0", [3], [1, 2, 3], "f4"),
            new SourceTensor("fc_0.w_0_moment1", [features, 3], w, "f4"),
        };
        Assert.Contains("of the model's tensors get no value from the file (2 do)", Assert.Throws<InvalidDataException>(() => WeightImporter.Import(model, source, m)).Message);
        var report = WeightImporter.Import(model, source, m, allowMissing: true);
        Assert.Equal(2, report.Loaded.Count);
        Assert.Contains(report.Unused, u => u.Why == "optimizer state");
        Assert.Contains(report.LeftAtInit, l => l.Target.StartsWith("backbone.", StringComparison.Ordinal));
        var fc = model.state_dict()["fc.weights"].data<float>();
        Assert.Equal(w[1 * 3 + 2], fc[2 * features + 1]); // out 2, in 1 = source [in 1, out 2]
        Assert.Equal(new float[] { 1, 2, 3 }, model.state_dict()["fc.bias"].data<float>());

        var misfit = new[] { new SourceTensor("fc_0.b_0", [4], [1, 2, 3, 4], "f4") };
        var e = Assert.Throws<InvalidDataException>(() => WeightImporter.Import(model, misfit, m, allowMissing: true));
        Assert.Contains("fc_0.b_0 [4] → fc.bias [3]", e.Message);
        var nothing = Assert.Throws<InvalidDataException>(() => WeightImporter.Import(model, [new SourceTensor("other", [1], [0], "f4")], m, allowMissing: true));
        Assert.Contains("no tensor of the file maps onto the model", nothing.Message);
    }

    [SkippableFact]
    public void PaddleDetectionsYoloV3MobileNetV1LandsTensorForTensor()
    {
        // PaddleDetection's dygraph names and shapes (ppdet backbones/mobilenet_v1.py, necks/yolo_fpn.py, heads/yolo_head.py),
        // each tensor filled with its own numbers, and beside it the Slim name each one must land on.
        Python(PaddlePrelude + """
            unit("backbone.conv1", "_conv", "_batch_norm", "backbone.conv1", 3, 32, 3)
            c = 32
            for name, out in [("conv2_1", 64), ("conv2_2", 128), ("conv3_1", 128), ("conv3_2", 256), ("conv4_1", 256), ("conv4_2", 512),
                              ("conv5_1", 512), ("conv5_2", 512), ("conv5_3", 512), ("conv5_4", 512), ("conv5_5", 512), ("conv5_6", 1024), ("conv6", 1024)]:
                unit(f"backbone.{name}._depthwise_conv", "_conv", "_batch_norm", f"backbone.{name}.dw", c, c, 3, groups=c)
                unit(f"backbone.{name}._pointwise_conv", "_conv", "_batch_norm", f"backbone.{name}.pw", c, out, 1)
                c = out
            yolo_neck_and_head([1024, 512, 256])
            save("yolov3.pdparams")
            """, "numpy");
        var path = Path.Combine(_dir, "yolov3.pdparams");
        var source = PickledWeights.Read(path);
        Assert.Equal(241, source.Count);
        using var model = ModelRegistry.CreateDetector("yolov3_mobilenet_v1", new ModelOptions { NumClasses = 80, Width = 1, InputSize = 320 });
        var map = WeightMap.For("yolov3_mobilenet_v1", WeightFormat.Paddle)!;
        var report = WeightImporter.Import(model, source, map);
        Assert.Empty(report.LeftAtInit);
        Assert.Empty(report.Unused);
        Assert.Equal(24_609_981, report.LoadedValues);
        AssertEachLands(source, model);

        // PaddleClas's MobileNetV1 classifier (its later names), fc [in, out] transposed into Slim's [out, in].
        var classifier = source.Where(t => t.Name.StartsWith("backbone.", StringComparison.Ordinal)).ToList();
        using var cls = ModelRegistry.CreateClassifier("mobilenet_v1", new ModelOptions { NumClasses = 4, Width = 1, InputSize = 224 });
        var fc = new SourceTensor("fc.weight", [1024, 4], Enumerable.Range(0, 4096).Select(i => (float)i).ToArray(), "f4");
        var clsReport = WeightImporter.Import(cls, [.. classifier, fc, new SourceTensor("fc.bias", [4], [1, 2, 3, 4], "f4")], map);
        Assert.Empty(clsReport.LeftAtInit);
        var w = cls.state_dict()["fc.weights"].data<float>();
        Assert.Equal(fc.Values[5 * 4 + 3], w[3 * 1024 + 5]); // Slim [out 3, in 5] = Paddle [in 5, out 3]
        Assert.Equal(new Mapped("backbone.conv2_1.dw.bn.var"), map.Map("blocks.0.depthwise_conv.bn._variance"));
        Assert.Equal(new Mapped("backbone.conv1.conv.weights"), map.Map("conv.conv.weight"));
        Assert.Equal(new Mapped("backbone.conv6.pw.conv.weights"), map.Map("conv6._pointwise_conv._conv.weight"));
    }

    [SkippableFact]
    public void PaddleDetectionsYoloV3ResNet34LandsTensorForTensorWithItsRes2aShortcut()
    {
        // PaddleDetection's dygraph ResNet (backbones/resnet.py, variant b, depth 34): conv1.conv1, then resN.resNx with
        // branch2a/branch2b and, in every stage's first block (res2a too), the projection short; ConvNormLayer's conv/norm.
        Python(PaddlePrelude + """
            unit("backbone.conv1.conv1", "conv", "norm", "backbone.conv1", 3, 64, 7)
            cin = 64
            for s, (n, ch) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)]):
                for i in range(n):
                    name = f"res{s + 2}{'abcdef'[i]}"
                    paddle, slim = f"backbone.res{s + 2}.{name}", f"backbone.{name}"
                    unit(paddle + ".branch2a", "conv", "norm", slim + ".branch2a", cin, ch, 3)
                    unit(paddle + ".branch2b", "conv", "norm", slim + ".branch2b", ch, ch, 3)
                    if i == 0:
                        unit(paddle + ".short", "conv", "norm", slim + ".branch1", cin, ch, 1)
                    cin = ch
            yolo_neck_and_head([512, 256, 128])
            save("yolov3_r34.pdparams")
            """, "numpy");
        var source = PickledWeights.Read(Path.Combine(_dir, "yolov3_r34.pdparams"));
        var map = WeightMap.For("yolov3_resnet34", WeightFormat.Paddle)!;
        Assert.Equal(ModelLayout.Paddle, map.Layout);
        using var model = ModelRegistry.CreateDetector("yolov3_resnet34", new ModelOptions { NumClasses = 80, Width = 1, InputSize = 320, Layout = map.Layout });
        var report = WeightImporter.Import(model, source, map);
        Assert.Empty(report.LeftAtInit);
        Assert.Empty(report.Unused);
        AssertEachLands(source, model);
        // In torchvision's form res2a has no projection: the file's res2a.short has nowhere to go and says so.
        using var tv = ModelRegistry.CreateDetector("yolov3_resnet34", new ModelOptions { NumClasses = 80, Width = 1, InputSize = 320 });
        var tvReport = WeightImporter.Import(tv, source, map);
        Assert.Equal(5, tvReport.Unused.Count);
        Assert.All(tvReport.Unused, u => Assert.Contains("backbone.res2a.branch1", u.Why));
        // PaddleDetection's ImageNet backbone file has the same names without "backbone.".
        Assert.Equal(new Mapped("backbone.res4c.branch2b.bn.var"), map.Map("res4.res4c.branch2b.norm._variance"));
    }

    [SkippableTheory]
    [InlineData(34)]
    [InlineData(50)]
    public void PaddleClasResNetLandsTensorForTensorWithItsFcTransposed(int depth)
    {
        // PaddleClas legendary_models/resnet.py names and shapes: stem.0, blocks.k.conv0/1[/2] and .short (the first block
        // of every stage), fc [in, out].
        Python(PaddlePrelude + $$"""
            depth = {{depth}}
            unit("stem.0", "conv", "bn", "backbone.conv1", 3, 64, 7)
            k, cin, expansion = 0, 64, 4 if depth >= 50 else 1
            for s, n in enumerate([3, 4, 6, 3]):
                mid = 64 * 2 ** s
                for i in range(n):
                    slim = f"backbone.res{s + 2}{'abcdef'[i]}"
                    if expansion == 4:
                        unit(f"blocks.{k}.conv0", "conv", "bn", slim + ".branch2a", cin, mid, 1)
                        unit(f"blocks.{k}.conv1", "conv", "bn", slim + ".branch2b", mid, mid, 3)
                        unit(f"blocks.{k}.conv2", "conv", "bn", slim + ".branch2c", mid, mid * 4, 1)
                    else:
                        unit(f"blocks.{k}.conv0", "conv", "bn", slim + ".branch2a", cin, mid, 3)
                        unit(f"blocks.{k}.conv1", "conv", "bn", slim + ".branch2b", mid, mid, 3)
                    if i == 0:
                        unit(f"blocks.{k}.short", "conv", "bn", slim + ".branch1", cin, mid * expansion, 1)
                    k, cin = k + 1, mid * expansion
            state["fc.weight"] = numpy.arange(cin * 10, dtype=numpy.float32).reshape(cin, 10)
            state["fc.bias"] = numpy.arange(10, dtype=numpy.float32)
            save("resnet.pdparams")
            """, "numpy");
        var source = PickledWeights.Read(Path.Combine(_dir, "resnet.pdparams"));
        var map = WeightMap.For($"resnet{depth}", WeightFormat.Paddle)!;
        using var model = ModelRegistry.CreateClassifier($"resnet{depth}", new ModelOptions { NumClasses = 10, Width = 1, InputSize = 224, Layout = map.Layout });
        var report = WeightImporter.Import(model, source, map);
        Assert.Empty(report.LeftAtInit);
        Assert.Empty(report.Unused);
        AssertEachLands(source, model);
        var state = model.state_dict();
        int features = depth >= 50 ? 2048 : 512;
        var fc = state["fc.weights"].data<float>();
        Assert.Equal(new long[] { 10, features }, state["fc.weights"].shape);
        Assert.Equal(7 * 10 + 3, fc[3 * features + 7]); // Slim [out 3, in 7] = Paddle [in 7, out 3]
    }

    [SkippableFact]
    public void PaddleClasMobileNetV2LandsTensorForTensorWithItsFirstExpansion()
    {
        // PaddleClas model_zoo/mobilenet_v2.py: conv1_1 as conv1, groups conv2 … conv8 of a _first_block and convN_2 …,
        // each unit _expand_conv (also at expansion 1) / _bottleneck_conv / _linear_conv of _conv and _batch_norm; conv9; out.
        Python(PaddlePrelude + """
            unit("conv1", "_conv", "_batch_norm", "backbone.conv1", 3, 32, 3)
            in_c, index = 32, 0
            for g, (t, c, n, s) in enumerate([(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]):
                group = f"conv{g + 2}"
                for i in range(n):
                    paddle = f"{group}._first_block" if i == 0 else f"{group}.{group}_{i + 1}"
                    cin = in_c if i == 0 else c
                    e = int(round(cin * t))
                    slim = f"backbone.blocks.{index}"
                    unit(paddle + "._expand_conv", "_conv", "_batch_norm", slim + ".expand", cin, e, 1)
                    unit(paddle + "._bottleneck_conv", "_conv", "_batch_norm", slim + ".dwise", e, e, 3, groups=e)
                    unit(paddle + "._linear_conv", "_conv", "_batch_norm", slim + ".linear", e, c, 1)
                    index += 1
                in_c = c
            unit("conv9", "_conv", "_batch_norm", "backbone.conv_last", 320, 1280, 1)
            put("out.weight", (1280, 6), None)
            put("out.bias", (6,), "fc.bias")
            save("mobilenet_v2.pdparams")
            """, "numpy");
        var source = PickledWeights.Read(Path.Combine(_dir, "mobilenet_v2.pdparams"));
        var map = WeightMap.For("mobilenet_v2", WeightFormat.Paddle)!;
        using var model = ModelRegistry.CreateClassifier("mobilenet_v2", new ModelOptions { NumClasses = 6, Width = 1, InputSize = 224, Layout = map.Layout });
        var report = WeightImporter.Import(model, source, map);
        Assert.Empty(report.LeftAtInit);
        Assert.Empty(report.Unused);
        AssertEachLands(source.Where(t => t.Name != "out.weight").ToList(), model);
        var fc = model.state_dict()["fc.weights"].data<float>();
        var paddleFc = source.Single(t => t.Name == "out.weight").Values;
        Assert.Equal(paddleFc[700 * 6 + 4], fc[4 * 1280 + 700]); // Slim [out 4, in 700] = Paddle [in 700, out 4]
    }

    // Slim's name for each of PaddleDetection's, written the other way round: Slim name → Paddle name.
    private static string PaddleName(string slim)
    {
        var bn = new Dictionary<string, string> { ["scale"] = "weight", ["offset"] = "bias", ["mean"] = "_mean", ["var"] = "_variance" };
        string Tensor(string rest, string convName, string bnName) =>
            rest == "conv.weights" ? $"{convName}.weight" : rest.StartsWith("bn.", StringComparison.Ordinal) ? $"{bnName}.{bn[rest[3..]]}" : throw new KeyNotFoundException(slim);
        var p = slim.Split('.');
        if (slim.StartsWith("backbone.conv1.", StringComparison.Ordinal)) return "backbone.conv1." + Tensor(string.Join('.', p[2..]), "conv", "bn");
        if (p[0] == "backbone" && p[1] == "blocks")
        {
            var block = $"backbone.conv{int.Parse(p[2]) + 2}";
            if (p[3] == "se_block") return $"{block}.mid_se.{p[4]}.{(p[5] == "weights" ? "weight" : "bias")}";
            var part = p[3] switch { "expand" => "expand_conv", "res_conv1" => "bottleneck_conv", "linear" => "linear_conv", _ => throw new KeyNotFoundException(slim) };
            return $"{block}.{part}." + Tensor(string.Join('.', p[4..]), "conv", "bn");
        }
        if (p[0] == "yolo_block")
        {
            var unit = p[2] == "tip" ? "tip" : p[2] == "2" ? "conv_module.route"
                : "conv_module." + (p[2] + "." + p[3]) switch { "0.0" => "conv0", "0.1" => "conv1", "1.0" => "conv2", "1.1" => "conv3", _ => throw new KeyNotFoundException(slim) };
            int skip = p[2] is "tip" or "2" ? 3 : 4;
            return $"neck.yolo_block.{p[1]}.{unit}." + Tensor(string.Join('.', p[skip..]), "conv", "batch_norm");
        }
        if (p[0] == "yolo_transition") return $"neck.yolo_transition.{p[1]}." + Tensor(string.Join('.', p[2..]), "conv", "batch_norm");
        if (p[0] == "yolo_output") return $"yolo_head.yolo_output.{p[1]}.{(p[3] == "weights" ? "weight" : "bias")}";
        throw new KeyNotFoundException(slim);
    }

    [Theory]
    [InlineData("yolov3_mobilenet_v3_large", 15)]
    [InlineData("yolov3_mobilenet_v3_small", 11)]
    public void PaddleDetectionsYoloV3MobileNetV3LandsWithTheSeGateCarriedByItsConv(string architecture, int blocks)
    {
        using var model = ModelRegistry.CreateDetector(architecture, new ModelOptions { NumClasses = 80, Width = 1, InputSize = 320 });
        var targets = model.state_dict();
        var source = targets.Select((kv, i) => new SourceTensor(PaddleName(kv.Key), kv.Value.shape,
            Enumerable.Range(0, (int)kv.Value.numel()).Select(j => (float)(i * 1000 + j % 997)).ToArray(), "f4")).ToList();
        Assert.Contains(source, t => t.Name == $"backbone.conv{blocks + 1}.linear_conv.conv.weight");
        Assert.DoesNotContain(source, t => t.Name == $"backbone.conv{blocks + 2}.linear_conv.conv.weight");
        var map = WeightMap.For(architecture, WeightFormat.Paddle)!;
        var report = WeightImporter.Import(model, source, map);
        Assert.Empty(report.LeftAtInit);
        Assert.Empty(report.Unused);
        var state = model.state_dict();
        foreach (var (t, slim) in source.Zip(targets.Keys))
        {
            // Paddle's gate hardsigmoid(0.2 z + 0.5) is Slim's (1.2 z) / 6 + 0.5: the gate's conv carries the 1.2.
            float scale = slim.Contains(".se_block.conv2.", StringComparison.Ordinal) ? 1.2f : 1f;
            Assert.True(t.Values.Select(v => v * scale).SequenceEqual(state[slim].data<float>()), $"{t.Name} did not land on {slim}");
        }
    }

    // PaddleClas legendary_models/mobilenet_v3.py names (conv, blocks.i.expand_conv/bottleneck_conv/mid_se/linear_conv,
    // last_second_conv), written here from Slim's backbone names.
    private static string ClasName(string slim)
    {
        var bn = new Dictionary<string, string> { ["scale"] = "weight", ["offset"] = "bias", ["mean"] = "_mean", ["var"] = "_variance" };
        var p = slim.Split('.');
        string Tensor(int at) => p[at] == "conv" ? "conv.weight" : $"bn.{bn[p[at + 1]]}";
        if (p[1] == "conv1") return "conv." + Tensor(2);
        if (p[1] == "conv_last") return "last_second_conv." + Tensor(2);
        if (p[3] == "se_block") return $"blocks.{p[2]}.mid_se.{p[4]}.{(p[5] == "weights" ? "weight" : "bias")}";
        var part = p[3] switch { "expand" => "expand_conv", "res_conv1" => "bottleneck_conv", "linear" => "linear_conv", _ => throw new KeyNotFoundException(slim) };
        return $"blocks.{p[2]}.{part}." + Tensor(4);
    }

    [Theory]
    [InlineData("mobilenet_v3_large", 960, 1280)]
    [InlineData("mobilenet_v3_small", 576, 1024)]
    public void PaddleClasMobileNetV3ClassifierTakesItsHeadWithTheDropoutScaleInFc(string architecture, int last, int hidden)
    {
        var map = WeightMap.For(architecture, WeightFormat.Paddle)!;
        using var model = ModelRegistry.CreateClassifier(architecture, new ModelOptions { NumClasses = 5, Width = 1, InputSize = 224, Layout = map.Layout });
        var backbone = model.state_dict().Where(kv => kv.Key.StartsWith("backbone.", StringComparison.Ordinal)).ToList();
        var source = backbone.Select((kv, i) => new SourceTensor(ClasName(kv.Key), kv.Value.shape,
            Enumerable.Range(0, (int)kv.Value.numel()).Select(j => (float)(i * 1000 + j % 997)).ToArray(), "f4")).ToList();
        var lastConv = new SourceTensor("last_conv.weight", [hidden, last, 1, 1], Enumerable.Range(0, hidden * last).Select(i => (float)(i % 1013)).ToArray(), "f4");
        var fc = new SourceTensor("fc.weight", [hidden, 5], Enumerable.Range(0, hidden * 5).Select(i => (float)i).ToArray(), "f4");
        var report = WeightImporter.Import(model, [.. source, lastConv, fc, new SourceTensor("fc.bias", [5], [1, 2, 3, 4, 5], "f4")], map);
        Assert.Empty(report.LeftAtInit);
        Assert.Empty(report.Unused);
        var state = model.state_dict();
        Assert.Equal(lastConv.Values, state["hidden.weights"].data<float>().ToArray()); // [out, in, 1, 1] → [out, in]
        // Paddle's dropout (downscale_in_infer) multiplies the hidden features by 0.8 at inference; fc's weight carries it.
        Assert.Equal(fc.Values[9 * 5 + 2] * 0.8f, state["fc.weights"].data<float>()[2 * hidden + 9]);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5 }, state["fc.bias"].data<float>().ToArray());
        Assert.Contains("1×1 conv weight", Assert.Throws<InvalidDataException>(() => WeightImporter.Import(model,
            [.. source, new SourceTensor("last_conv.weight", [hidden, last], lastConv.Values, "f4")], map, allowMissing: true)).Message);
    }

    [Theory]
    [InlineData("yolov3_mobilenet_v3_large")]
    [InlineData("yolov3_mobilenet_v3_small")]
    public void PaddleClasMobileNetV3GivesTheDetectorItsBackbone(string architecture)
    {
        // PaddleClas's backbone names, plus its classifier head, which a detector has no place for.
        using var model = ModelRegistry.CreateDetector(architecture, new ModelOptions { NumClasses = 80, Width = 1, InputSize = 320 });
        var backbone = model.state_dict().Where(kv => kv.Key.StartsWith("backbone.", StringComparison.Ordinal)).ToList();
        var source = backbone.Select((kv, i) => new SourceTensor(ClasName(kv.Key), kv.Value.shape,
            Enumerable.Range(0, (int)kv.Value.numel()).Select(j => (float)(i * 1000 + j % 997)).ToArray(), "f4")).ToList();
        source.Add(new SourceTensor("last_conv.weight", [1280, 960, 1, 1], new float[1280 * 960], "f4"));
        source.Add(new SourceTensor("fc.weight", [1280, 1000], new float[1280 * 1000], "f4"));
        var report = WeightImporter.Import(model, source, WeightMap.For(architecture, WeightFormat.Paddle)!, only: "backbone.");
        Assert.Equal(backbone.Count, report.Loaded.Count);
        Assert.All(report.Unused, u => Assert.Contains("classifier head", u.Why));
        Assert.Equal(2, report.Unused.Count);
        var state = model.state_dict();
        foreach (var (t, (slim, _)) in source.Zip(backbone))
        {
            float scale = slim.Contains(".se_block.conv2.", StringComparison.Ordinal) ? 1.2f : 1f;
            Assert.True(t.Values.Select(v => v * scale).SequenceEqual(state[slim].data<float>()), $"{t.Name} did not land on {slim}");
        }
    }
}
