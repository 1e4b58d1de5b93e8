using Slim.Cli;
using Slim.Export;
using Slim.Cli.Commands;
using Slim.Compression.Quantization;
using Slim.Pipeline;
using Slim.Recipes;

namespace Slim.Cli.Tests;

/// <summary>A tiny recipe file, its synthetic data and a 3-iteration checkpoint, shared by the export/verify/infer verb tests.</summary>
public sealed class CliExportRun : IDisposable
{
    public CliExportRun()
    {
        Dir = Directory.CreateTempSubdirectory("slim-cli-export-").FullName;
        RecipePath = Path.Combine(Dir, "tiny.yml");
        File.WriteAllText(RecipePath, $$"""
            name: tiny-cli
            seed: 2
            threads: 2
            model: {name: yolov3_mobilenet_v1, width: 0.25, input_size: 64}
            dataset:
              format: synthetic
              root: {{Path.Combine(Dir, "data")}}
              generate: {train_images: 16, val_images: 6, image_size: 80, seed: 1}
              workers: 0
            train: {iterations: 3, batch_size: 4, warmup_steps: 0, augment: false}
            verify: {threads: 1, latency_runs: 2, warmup_runs: 0}
            """);
        var recipe = RecipeLoader.Load<Recipe>(RecipePath, Array.Empty<string>());
        var task = DetectionTask.Create(recipe);
        ClassNames = task.ClassNames;
        Checkpoint = TrainStage.Run(task, Path.Combine(Dir, "train"), false, NullProgress.Instance, CancellationToken.None).Checkpoint;
        ValImages = Path.Combine(Dir, "data", "coco", "images");
    }

    public string Dir { get; }
    public string RecipePath { get; }
    public string Checkpoint { get; }
    public string ValImages { get; }
    public IReadOnlyList<string> ClassNames { get; }

    public string NewDir(string name) => Directory.CreateDirectory(Path.Combine(Dir, name + "-" + Guid.NewGuid().ToString("N")[..6])).FullName;

    /// <summary>Runs slim with the arguments; returns the exit code.</summary>
    public static int Slim(params string[] args) => Program.Run(args);

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}

public class ExportCommandTests(CliExportRun run) : IClassFixture<CliExportRun>
{
    [Fact]
    public void ExportsWithARecipeAndWithoutOne()
    {
        var withRecipe = run.NewDir("export");
        Assert.Equal((int)ExitCode.Ok, CliExportRun.Slim("export", run.RecipePath, "--checkpoint", run.Checkpoint, "--out", withRecipe));
        var model = OnnxExporter.Load(Path.Combine(withRecipe, ExportStage.Fp32FileName));
        Assert.Equal("[-1,3,64,64]", model.MetadataProps.Single(p => p.Key == "input_shape").Value);
        Assert.False(File.Exists(Path.Combine(withRecipe, ExportStage.Int8FileName)));

        // The recipe's values can be overridden like every recipe verb's.
        var overridden = run.NewDir("export-o");
        Assert.Equal((int)ExitCode.Ok, CliExportRun.Slim("export", run.RecipePath, "-o", "model.input_size=96", "--checkpoint", run.Checkpoint, "--out", overridden));
        Assert.Equal("[-1,3,96,96]", OnnxExporter.Load(Path.Combine(overridden, ExportStage.Fp32FileName)).MetadataProps.Single(p => p.Key == "input_shape").Value);

        // No recipe: the checkpoint's metadata gives the input size and the class names.
        var bare = run.NewDir("export-bare");
        Assert.Equal((int)ExitCode.Ok, CliExportRun.Slim("export", "--checkpoint", run.Checkpoint, "--out", bare));
        var meta = OnnxExporter.Load(Path.Combine(bare, ExportStage.Fp32FileName)).MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("[-1,3,64,64]", meta["input_shape"]);
        Assert.Equal(string.Join("\n", run.ClassNames), meta[ExportModelInfo.ClassNamesKey]);

        // In-graph decoding and NMS, from the recipe key or the flag.
        foreach (var args in new[] { new[] { "export", run.RecipePath, "-o", "export.postprocess=true" }, new[] { "export", "--postprocess" } })
        {
            var post = run.NewDir("export-post");
            Assert.Equal((int)ExitCode.Ok, CliExportRun.Slim(args.Concat(new[] { "--checkpoint", run.Checkpoint, "--out", post }).ToArray()));
            var graph = OnnxExporter.Load(Path.Combine(post, ExportStage.Fp32FileName)).Graph;
            Assert.Equal(YoloPostprocessGraph.ScaleFactorName, graph.Input[1].Name);
            Assert.Equal(YoloPostprocessGraph.OutputNames, graph.Output.Select(o => o.Name));
        }
    }

    [Fact]
    public void QuantDirGivesTheInt8Model()
    {
        var quant = run.NewDir("quant");
        // The record of one layer (the first conv, 8 output channels at width 0.25); the twin is a copy of the checkpoint.
        var (model, _, _) = TestCheckpoints.Load(run.Checkpoint);
        QuantizedLayer layer;
        using (model)
        {
            var conv = (Slim.Torch.Modules.Conv2d)model.get_submodule("backbone.conv1.conv");
            layer = new QuantizedLayer
            {
                ModulePath = "backbone.conv1.conv", LayerType = "Conv2d", WeightParameter = "backbone.conv1.conv." + conv.WeightName,
                WeightShape = conv.weight.shape, WeightScales = Enumerable.Repeat(0.02f, 8).ToArray(), InputScale = 0.03f, InputType = QuantDType.Int8,
                Stride = conv.stride, Padding = conv.padding, Dilation = conv.dilation, Groups = conv.groups,
            };
        }
        QuantFile.Write(Path.Combine(quant, QuantStage.QuantFileName), new QuantDocument
        {
            Mode = QuantMode.Post, Algorithm = "abs_max", TwinCheckpoint = "twin.ckpt", NotQuant = Array.Empty<string>(), QuantOutput = false,
            Layers = new[] { layer }, Report = Array.Empty<QuantLayerDecision>(),
            Activations = Array.Empty<QuantizedActivation>(), PointReport = Array.Empty<QuantPointDecision>(),
        });
        File.Copy(run.Checkpoint, Path.Combine(quant, "twin.ckpt"));
        var outDir = run.NewDir("export-int8");
        Assert.Equal((int)ExitCode.Ok, CliExportRun.Slim("export", run.RecipePath, "--checkpoint", run.Checkpoint, "--quant-dir", quant, "--out", outDir));
        var int8 = OnnxExporter.Load(Path.Combine(outDir, ExportStage.Int8FileName));
        Assert.Equal("int8-qdq", int8.MetadataProps.Single(p => p.Key == "precision").Value);
        Assert.Equal(1, int8.Graph.Node.Count(n => n.OpType == "QuantizeLinear"));
        Assert.True(File.Exists(Path.Combine(outDir, ExportStage.Fp32FileName)));

        // Two checkpoints, neither named as the twin: the verb asks for --twin.
        File.Copy(run.Checkpoint, Path.Combine(quant, "last.ckpt"));
        File.Move(Path.Combine(quant, "twin.ckpt"), Path.Combine(quant, "best.ckpt"));
        Assert.Equal((int)ExitCode.Usage, CliExportRun.Slim("export", "--checkpoint", run.Checkpoint, "--quant-dir", quant, "--out", run.NewDir("x")));
        var named = run.NewDir("export-twin");
        Assert.Equal((int)ExitCode.Ok, CliExportRun.Slim("export", "--checkpoint", run.Checkpoint, "--quant-dir", quant, "--twin", Path.Combine(quant, "best.ckpt"), "--out", named));
        Assert.True(File.Exists(Path.Combine(named, ExportStage.Int8FileName)));
    }

    [Fact]
    public void BadInputsExitWithTheRightCodeAndMessage()
    {
        var err = new StringWriter();
        int code = CliRunner.Run(() =>
        {
            ExportCommand.Export(null, Array.Empty<string>(), Path.Combine(run.Dir, "missing.ckpt"), null, null, run.NewDir("bad"), NullProgress.Instance, CancellationToken.None);
            return ExitCode.Ok;
        }, err);
        Assert.Equal((int)ExitCode.InvalidInput, code);
        Assert.Contains("missing.ckpt", err.ToString());

        var badNms = run.NewDir("pp");
        Assert.Equal((int)ExitCode.InvalidInput, CliExportRun.Slim("export", run.RecipePath, "-o", "export.postprocess=true", "-o", "export.nms.keep_top_k=0", "--checkpoint", run.Checkpoint, "--out", badNms));
        Assert.Empty(Directory.GetFiles(badNms));
        Assert.Equal((int)ExitCode.Usage, CliExportRun.Slim("export", "--checkpoint", run.Checkpoint, "--twin", run.Checkpoint, "--out", run.NewDir("t")));
        Assert.Equal((int)ExitCode.InvalidInput, CliExportRun.Slim("export", "--checkpoint", run.Checkpoint, "--quant-dir", Path.Combine(run.Dir, "nope"), "--out", run.NewDir("q")));
    }
}
