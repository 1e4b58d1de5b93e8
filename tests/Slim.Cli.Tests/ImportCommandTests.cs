using System.Diagnostics;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Cli.Tests;

/// <summary>`slim import` end to end on a torchvision file, and a recipe's model.pretrained taking a classifier's backbone.</summary>
public sealed class ImportCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-import-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    // A torchvision classifier with 5 classes, random weights, saved as torch.save writes a state dict.
    private string Torchvision(string name = "resnet18")
    {
        const string python = "/usr/bin/python3";
        Skip.IfNot(File.Exists(python), $"{python} is not installed (Debian package python3)");
        var script = Path.Combine(_dir, "make.py");
        File.WriteAllText(script, $$"""
            import sys
            try:
                import torch, torchvision
            except ImportError as e:
                print(e, file=sys.stderr); sys.exit(3)
            torch.manual_seed(0)
            torch.save(torchvision.models.{{name}}(num_classes=5).state_dict(), "{{name}}.pth")
            """);
        using var p = Process.Start(new ProcessStartInfo(python, script) { WorkingDirectory = _dir, RedirectStandardError = true })!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Skip.If(p.ExitCode == 3, $"python3 lacks torch/torchvision ({err.Trim()}; Debian packages python3-torch, python3-torchvision)");
        Assert.True(p.ExitCode == 0, err);
        return Path.Combine(_dir, name + ".pth");
    }

    private static (int Code, string Out, string Err) Slim(params string[] args) => PruneCliSupport.InvokeRecorded(args);

    [SkippableFact]
    public void ImportsATorchvisionResNetAsACheckpointTheOtherVerbsTake()
    {
        var weights = Torchvision();
        var ckpt = Path.Combine(_dir, "r18.ckpt");

        var (dry, dryOut, dryErr) = Slim("import", weights, "--model", "resnet18", "--dry-run");
        Assert.True(dry == 0, dryErr);
        Assert.Contains("torchvision resnet: 102 of 102 tensors loaded", dryOut);
        Assert.Contains("dry run: nothing written", dryOut);
        Assert.Matches(@"layer4\.1\.bn2\.running_var\s*│\s*backbone\.res5b\.branch2b\.bn\.var", dryOut); // every match listed
        Assert.Empty(Directory.GetFiles(_dir, "*.ckpt"));

        // A dry run of a file that does not fit lists every misfit (not the first three) and fails as the import would.
        var (misfit, misfitOut, misfitErr) = Slim("import", weights, "--model", "resnet18", "--width", "0.5", "--dry-run");
        Assert.Equal((int)ExitCode.InvalidInput, misfit);
        Assert.Contains("the import would fail: 101 tensor(s) do not fit, 0 of the model's get no value", misfitErr);
        Assert.Contains("fc.weight [5, 512] → fc.weights [5, 256]", misfitOut);
        Assert.Contains("layer4.1.bn2.running_var [512] → backbone.res5b.branch2b.bn.var [256]", misfitOut);

        var (code, stdout, stderr) = Slim("import", weights, "--model", "resnet18", "--out", ckpt);
        Assert.True(code == 0, stderr);
        Assert.Contains("20 source tensor(s) not used", stdout);
        Assert.Contains("batch-norm step counter", stdout);
        var meta = Checkpoint.ReadMetadata(ckpt);
        Assert.Equal("5", meta["model.num_classes"]); // from the source's head
        Assert.Equal("0.485,0.456,0.406", meta["dataset.mean"]);
        Assert.Equal("resnet18.pth", meta["import.source"]);
        using (var loaded = ModelCheckpoint.Load(ckpt)) Assert.Equal("resnet18", loaded.Architecture);
        Assert.Equal(0, Slim("flops", "--checkpoint", ckpt).Code);

        // Another width: every misfit named with both shapes, nothing written.
        var narrow = Path.Combine(_dir, "narrow.ckpt");
        var (bad, _, badErr) = Slim("import", weights, "--model", "resnet18", "--width", "0.5", "--out", narrow);
        Assert.Equal((int)ExitCode.InvalidInput, bad);
        Assert.Contains("conv1.weight [64, 3, 7, 7] → backbone.conv1.conv.weights [32, 3, 7, 7]", badErr);
        Assert.False(File.Exists(narrow));

        // Under a head of other classes: the backbone only, the head said to be left at its initial values.
        var (head, headOut, headErr) = Slim("import", weights, "--model", "resnet18", "--num-classes", "3", "--backbone-only", "--out", Path.Combine(_dir, "b.ckpt"));
        Assert.True(head == 0, headErr);
        Assert.Contains("100 of 102 tensors loaded", headOut);
        Assert.Contains("fc.weights, fc.bias", headOut);

        // A file of another architecture: resnet18's blocks cover only part of resnet34's, and that is said.
        var (deeper, _, deeperErr) = Slim("import", weights, "--model", "resnet34", "--out", Path.Combine(_dir, "r34.ckpt"));
        Assert.Equal((int)ExitCode.InvalidInput, deeper);
        Assert.Contains("of the model's tensors get no value from the file", deeperErr);
        Assert.Contains("backbone.res2c.branch2a.conv.weights", deeperErr);
        Assert.False(File.Exists(Path.Combine(_dir, "r34.ckpt")));
        var (allowed, allowedOut, allowedErr) = Slim("import", weights, "--model", "resnet34", "--allow-missing", "--dry-run");
        Assert.True(allowed == 0, allowedErr);
        Assert.Contains("no source tensor maps to it", allowedOut);
    }

    [SkippableFact]
    public void TorchvisionsMobileNetV3KeepsItsLayoutFromImportToADetectorsBackbone()
    {
        var weights = Torchvision("mobilenet_v3_small");
        var ckpt = Path.Combine(_dir, "mnv3.ckpt");
        var (code, stdout, stderr) = Slim("import", weights, "--model", "mobilenet_v3_small", "--input-size", "64", "--out", ckpt);
        Assert.True(code == 0, stderr);
        Assert.Contains("0 left at initial values", stdout);
        Assert.Equal("torchvision", Checkpoint.ReadMetadata(ckpt)["model.layout"]);
        using (var loaded = ModelCheckpoint.Load(ckpt)) Assert.Equal(ModelLayout.Torchvision, loaded.Options.Layout);

        // A detector recipe naming the checkpoint (or the .pth itself) builds its backbone in the same form and takes it.
        foreach (var pretrained in new[] { ckpt, weights })
        {
            var section = new ModelSection { Name = "yolov3_mobilenet_v3_small", Pretrained = pretrained, PretrainedBackboneOnly = true };
            Assert.Equal(ModelLayout.Torchvision, PretrainedWeights.Layout(section));
            using var detector = ModelRegistry.CreateDetector(section.Name, new ModelOptions { NumClasses = 3, InputSize = 64, Layout = PretrainedWeights.Layout(section) });
            var report = PretrainedWeights.Apply(section, detector);
            Assert.DoesNotContain(report.LeftAtInit, l => l.Target.StartsWith("backbone.", StringComparison.Ordinal));
        }
        // Built in Paddle's form (an explicit model.layout: paddle) it does not fit, and the error says how.
        using var paddle = ModelRegistry.CreateDetector("yolov3_mobilenet_v3_small", new ModelOptions { NumClasses = 3, InputSize = 64, Layout = ModelLayout.Paddle });
        var wrong = new ModelSection { Name = "yolov3_mobilenet_v3_small", Pretrained = ckpt, PretrainedBackboneOnly = true };
        Assert.Contains("do not fit the model", Assert.Throws<SlimException>(() => PretrainedWeights.Apply(wrong, paddle, apply: false)).Message);
        var (bad, _, badErr) = Slim("import", weights, "--model", "mobilenet_v3_small", "--layout", "caffe", "--dry-run");
        Assert.Equal((int)ExitCode.Usage, bad);
        Assert.Contains("--layout caffe: expected paddle or torchvision", badErr);
    }

    [Fact]
    public void APretrainedClassifierGivesADetectorItsBackbone()
    {
        var options = new ModelOptions { NumClasses = 10, Width = 0.25, InputSize = 32, InChannels = 3 };
        using var classifier = ModelRegistry.CreateClassifier("mobilenet_v1", options);
        var path = Path.Combine(_dir, "classifier.ckpt");
        Checkpoint.Save(path, classifier.state_dict(), options.ToMetadata("mobilenet_v1"));

        var section = new ModelSection { Name = "yolov3_mobilenet_v1", Width = 0.25, Pretrained = path, PretrainedBackboneOnly = true };
        using var detector = ModelRegistry.CreateDetector("yolov3_mobilenet_v1", options with { InputSize = 64 });
        var head = detector.state_dict()["yolo_output.0.conv.weights"].data<float>();
        var report = PretrainedWeights.Apply(section, detector);
        Assert.Equal(classifier.state_dict().Keys.Count(k => k.StartsWith("backbone.", StringComparison.Ordinal)), report.Loaded.Count);
        Assert.Contains(report.Unused, u => u.Source == "fc.weights" && u.Why.Contains("outside backbone"));
        var d = detector.state_dict();
        foreach (var (name, tensor) in classifier.state_dict().Where(kv => kv.Key.StartsWith("backbone.", StringComparison.Ordinal)))
            Assert.Equal(tensor.data<float>(), d[name].data<float>());
        Assert.Equal(head, d["yolo_output.0.conv.weights"].data<float>()); // the head keeps its initial values
        Assert.Contains(report.LeftAtInit, l => l.Target == "yolo_output.0.conv.weights");

        // The whole classifier into a detector is refused, naming what to set.
        var whole = new ModelSection { Name = "yolov3_mobilenet_v1", Pretrained = path };
        Assert.Contains("set model.pretrained_backbone_only: true", Assert.Throws<SlimException>(() => PretrainedWeights.Apply(whole, detector, apply: false)).Message);
    }
}
