using Slim.Models;
using Slim.Pipeline;
using Slim.Torch;

namespace Slim.Cli.Tests;

/// <summary>Checkpoints that do not belong to the recipe or to each other are refused before anything is written.</summary>
public class MismatchTests(CliExportRun run) : IClassFixture<CliExportRun>
{
    private string Fresh(string name, string architecture, double width)
    {
        var options = new ModelOptions { NumClasses = run.ClassNames.Count, Width = width, InputSize = 64 };
        using var model = ModelRegistry.CreateDetector(architecture, options);
        var path = Path.Combine(run.NewDir("ckpt"), name);
        Checkpoint.Save(path, model.state_dict(), options.ToMetadata(architecture));
        return path;
    }

    [Fact]
    public void ACheckpointOfAnotherArchitectureThanTheRecipesIsRefused()
    {
        var resnet = Fresh("r34.ckpt", "yolov3_resnet34", 0.25);
        foreach (var verb in new[] { "eval", "export", "quant", "sensitivity" })
        {
            var outDir = run.NewDir(verb);
            var args = verb == "eval"
                ? new[] { verb, run.RecipePath, "--checkpoint", resnet }
                : new[] { verb, run.RecipePath, "--checkpoint", resnet, "--out", outDir };
            var (code, stderr) = RunCommandTests.Run(args);
            Assert.True(code == (int)ExitCode.InvalidInput, $"{verb}: exit {code}: {stderr}");
            var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal($"slim: error: {resnet}: holds a yolov3_resnet34 model but the recipe's model.name is yolov3_mobilenet_v1; " +
                         "give a checkpoint of yolov3_mobilenet_v1, or use the checkpoint's model (-o model.name=yolov3_resnet34)", line);
            Assert.Empty(Directory.EnumerateFileSystemEntries(outDir));
        }
    }

    [Fact]
    public void AFloatModelAndATwinOfAnotherModelAreNotExportedTogether()
    {
        // The twin of a pruned (here: narrower) model with the unpruned checkpoint: two models that do not belong together.
        var narrow = Fresh("narrow.ckpt", "yolov3_mobilenet_v1", 0.125);
        var e = Assert.Throws<SlimException>(() => ExportStage.RequireSameModel(run.Checkpoint, narrow));
        Assert.Contains("are different models (model.width 0.25 vs 0.125)", e.Message);
        ExportStage.RequireSameModel(run.Checkpoint, run.Checkpoint);

        var outDir = run.NewDir("export-mixed");
        var quantDir = run.NewDir("quant");
        File.Copy(narrow, Path.Combine(quantDir, "twin.ckpt"));
        File.WriteAllText(Path.Combine(quantDir, QuantStage.QuantFileName), "{}");
        var (code, stderr) = RunCommandTests.Run("export", "--checkpoint", run.Checkpoint, "--twin", narrow, "--quant-file", Path.Combine(quantDir, QuantStage.QuantFileName), "--out", outDir);
        Assert.Equal((int)ExitCode.InvalidInput, code);
        Assert.Contains("different models", stderr);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outDir));
    }
}
