using System.Text.Json;
using Slim.Data;
using Slim.Cli.Commands;
using Slim.Pipeline;

namespace Slim.Cli.Tests;

public class InferCommandTests(CliExportRun run) : IClassFixture<CliExportRun>
{
    private string[] TwoImages() => Directory.GetFiles(run.ValImages, "*.jpg").OrderBy(f => f, StringComparer.Ordinal).Take(2).ToArray();

    /// <summary>Asserts the annotated copy exists, decodes at the input's size and differs from it (boxes were drawn).</summary>
    private static void AssertAnnotated(string input, string output)
    {
        Assert.True(File.Exists(output), $"{output} was not written");
        var a = Image.Load(input);
        var b = Image.Load(output);
        Assert.Equal((a.Width, a.Height), (b.Width, b.Height));
        // JPEG re-encoding alone changes pixels by a few levels; drawn boxes change some by far more.
        int changed = a.Pixels.Zip(b.Pixels).Count(p => Math.Abs(p.First - p.Second) > 60);
        Assert.True(changed > 50, $"{output}: only {changed} strongly changed pixel values; no box was drawn");
    }

    [Fact]
    public void CheckpointInferenceDrawsBoxesAndWritesDetections()
    {
        var images = TwoImages();
        var outDir = run.NewDir("infer");
        Assert.Equal((int)ExitCode.Ok, CliExportRun.Slim("infer", "--checkpoint", run.Checkpoint, "--images", string.Join(",", images), "--out", outDir, "--score", "0"));
        foreach (var img in images) AssertAnnotated(img, Path.Combine(outDir, Path.GetFileName(img)));
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, ExportInference.DetectionsFileName))).RootElement;
        Assert.Equal(2, json.GetArrayLength());
        var det = json[0].GetProperty("detections")[0];
        Assert.Contains(det.GetProperty("class_name").GetString(), run.ClassNames);
        Assert.Equal(4, det.GetProperty("box").GetArrayLength());

        // A score no untrained detection reaches: nothing drawn, the copy equals the input up to JPEG noise.
        var none = run.NewDir("infer-none");
        var results = InferCommand.Infer(run.Checkpoint, null, images[0], none, 0.999, 1);
        var empty = Assert.Single(results);
        Assert.Empty(empty.Boxes);
        // The user is told the best score the model gave, the one the score-0 run drew first.
        var all = InferCommand.Infer(run.Checkpoint, null, images[0], run.NewDir("infer-all"), 0.0, 1)[0].Boxes;
        if (all[0].Score > 0.01)
        {
            Assert.Equal(all[0].Score, empty.BestBelowThreshold!.Value, 6);
            Assert.Contains($"best score {all[0].Score:F3}", InferCommand.NoBoxHint(empty, 0.999));
        }
        else Assert.Null(empty.BestBelowThreshold);
    }

    /// <summary>Exports the checkpoint (with extra export flags), then infers a folder of two images from the ONNX file and from the checkpoint.</summary>
    private (IReadOnlyList<InferredImage> ViaOnnx, IReadOnlyList<InferredImage> ViaTorch) InferBothWays(double score, params string[] exportFlags)
    {
        var exported = run.NewDir("export");
        Assert.Equal((int)ExitCode.Ok, CliExportRun.Slim(new[] { "export", "--checkpoint", run.Checkpoint, "--out", exported }.Concat(exportFlags).ToArray()));
        var folder = run.NewDir("images");
        foreach (var img in TwoImages()) File.Copy(img, Path.Combine(folder, Path.GetFileName(img)));
        return (InferCommand.Infer(null, Path.Combine(exported, ExportStage.Fp32FileName), folder, run.NewDir("infer-onnx"), score, 1),
                InferCommand.Infer(run.Checkpoint, null, folder, run.NewDir("infer-torch"), score, 1));
    }

    [Fact]
    public void OnnxInferenceMatchesCheckpointInferenceOnAFolder()
    {
        var (viaOnnx, viaTorch) = InferBothWays(0.0);
        Assert.Equal(2, viaOnnx.Count);
        for (int i = 0; i < 2; i++)
        {
            AssertAnnotated(viaOnnx[i].Input, viaOnnx[i].Output);
            Assert.NotEmpty(viaOnnx[i].Boxes);
            // Same preprocessing and decoding: the best boxes agree.
            var a = viaOnnx[i].Boxes[0];
            var b = viaTorch[i].Boxes[0];
            Assert.Equal(b.ClassId, a.ClassId);
            Assert.Equal(b.Score, a.Score, 3);
            Assert.Equal(b.X1, a.X1, 1);
            Assert.Equal(b.Y2, a.Y2, 1);
        }
    }

    [Fact]
    public void OnnxWithInGraphNmsGivesTheCheckpointsDetections()
    {
        // Above the graph's own score threshold (0.01) --score only filters, so both paths keep the same boxes.
        var (viaOnnx, viaTorch) = InferBothWays(0.02, "--postprocess");
        Assert.Equal(2, viaOnnx.Count);
        for (int i = 0; i < 2; i++)
        {
            AssertAnnotated(viaOnnx[i].Input, viaOnnx[i].Output);
            Assert.NotEmpty(viaTorch[i].Boxes);
            Assert.Equal(viaTorch[i].Boxes.Count, viaOnnx[i].Boxes.Count);
            // Boxes of equal score (common in a barely trained model) may come in either order: match them as sets.
            var left = viaTorch[i].Boxes.ToList();
            foreach (var a in viaOnnx[i].Boxes)
            {
                int k = left.FindIndex(b => b.ClassId == a.ClassId && Math.Abs(b.Score - a.Score) < 1e-4 &&
                    Math.Abs(b.X1 - a.X1) < 0.05 && Math.Abs(b.Y1 - a.Y1) < 0.05 && Math.Abs(b.X2 - a.X2) < 0.05 && Math.Abs(b.Y2 - a.Y2) < 0.05);
                Assert.True(k >= 0, $"ONNX box {a} has no equal among the checkpoint's detections");
                left.RemoveAt(k);
            }
            // Both lists are best first.
            Assert.Equal(viaTorch[i].Boxes.Select(b => MathF.Round(b.Score, 4)), viaOnnx[i].Boxes.Select(b => MathF.Round(b.Score, 4)));
        }
    }

    [Fact]
    public void UsageErrors()
    {
        var img = TwoImages()[0];
        Assert.Equal((int)ExitCode.Usage, CliExportRun.Slim("infer", "--images", img, "--out", run.NewDir("u")));
        Assert.Equal((int)ExitCode.Usage, CliExportRun.Slim("infer", "--checkpoint", run.Checkpoint, "--onnx", "m.onnx", "--images", img, "--out", run.NewDir("u")));
        Assert.Equal((int)ExitCode.InvalidInput, CliExportRun.Slim("infer", "--checkpoint", run.Checkpoint, "--images", img + ",missing.jpg", "--out", run.NewDir("u")));
        Assert.Equal((int)ExitCode.InvalidInput, CliExportRun.Slim("infer", "--checkpoint", run.Checkpoint, "--images", run.NewDir("empty"), "--out", run.NewDir("u")));
        Assert.Equal((int)ExitCode.InvalidInput, CliExportRun.Slim("infer", "--checkpoint", run.Checkpoint, "--images", img, "--score", "1.5", "--out", run.NewDir("u")));
    }
}
