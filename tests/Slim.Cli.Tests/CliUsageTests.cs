namespace Slim.Cli.Tests;

/// <summary>Command lines that do not parse: one line, slim's prefix, the culprit named, exit code 2.</summary>
public class CliUsageTests
{
    private static (int Code, string[] Lines) Run(params string[] args)
    {
        var (code, stderr) = RunCommandTests.Run(args); // parse errors and the verbs' own errors both go to stderr
        return (code, stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("unknown verb", "'frob'", "frob")]
    [InlineData("no verb", "Required command", "")]
    [InlineData("unknown option", "'--frob'", "flops", "--model", "yolov3_mobilenet_v1", "--frob")]
    [InlineData("a word for a number", "--sizes abc: expected a whole number", "flops", "--sizes", "abc")]
    [InlineData("a word for a real", "--score x: expected a number", "infer", "--images", "a.jpg", "--score", "x")]
    [InlineData("missing argument", "recipe", "recipe", "check")]
    [InlineData("option without its value", "'--mode'", "quant", "r.yml", "--mode")]
    [InlineData("a bad fraction", "--max-drop 2pts: expected a fraction", "verify", "r.yml", "--max-drop", "2pts")]
    public void ParseErrorsAreOneUsageLine(string what, string culprit, params string[] args)
    {
        var (code, lines) = Run(args.Where(a => a.Length > 0).ToArray());
        Assert.True(code == (int)ExitCode.Usage, $"{what}: exit {code}");
        var line = Assert.Single(lines);
        Assert.StartsWith("slim: error: ", line);
        Assert.Contains(culprit, line);
        Assert.Contains("--help", line);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("33")]
    public void AnInputSizeADetectorCannotTakeIsTheOptionsFault(string size)
    {
        var (code, lines) = Run("flops", "--model", "yolov3_mobilenet_v1", "--sizes", "320", size);
        Assert.Equal((int)ExitCode.InvalidInput, code);
        Assert.Equal($"slim: error: --sizes {size}: yolov3_mobilenet_v1 is a detector, which takes a positive multiple of 32 (e.g. 320, 416, 608)", Assert.Single(lines));
    }
}

/// <summary>Paths and data that cannot work are refused before any work starts.</summary>
public class EarlyRefusalTests
{
    [Fact]
    public void AnOutputUnderAFileIsAUsageError()
    {
        var file = Path.GetTempFileName();
        try
        {
            var (code, stderr) = RunCommandTests.Run("run", RunFixture.RepoFile("recipes/quickstart.yml"), "--out", Path.Combine(file, "run"));
            Assert.Equal((int)ExitCode.Usage, code);
            Assert.Equal($"slim: error: --out {Path.Combine(file, "run")}: {file} is a file, so nothing can be written under it; give a folder (see slim run --help)",
                stderr.Trim());
            (code, stderr) = RunCommandTests.Run("run", RunFixture.RepoFile("recipes/quickstart.yml"), "--out", file);
            Assert.Equal((int)ExitCode.InvalidInput, code);
            Assert.Contains("is a file; a run needs a folder", stderr);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void AMissingValidationImageIsFoundWhenTheDataIsOpened()
    {
        var dir = Directory.CreateTempSubdirectory("slim-missing-").FullName;
        try
        {
            var recipe = Slim.Recipes.RecipeLoader.Parse<Slim.Recipes.Recipe>($$"""
                model: {name: yolov3_mobilenet_v1, width: 0.25, input_size: 64}
                dataset: {format: synthetic, root: {{Path.Combine(dir, "data")}}, generate: {train_images: 8, val_images: 4, image_size: 64, seed: 1}, workers: 0}
                """);
            Assert.Equal(4, DetectionTask.Create(recipe).ValImageCount); // generates the data; complete, it opens
            var val = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "data", "coco", "annotations", "instances_val.json")));
            var name = val.RootElement.GetProperty("images")[2].GetProperty("file_name").GetString()!;
            var image = Path.Combine(dir, "data", "coco", "images", name);
            File.Delete(image);
            var e = Assert.ThrowsAny<Exception>(() => DetectionTask.Create(recipe));
            Assert.Contains(image, e.Message);
            Assert.Contains("does not exist", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void MessagesNameWhatTheUserWrote()
    {
        var dir = Directory.CreateTempSubdirectory("slim-msg-").FullName;
        try
        {
            // A file that is not ONNX: the file named, no protobuf dump.
            var bad = Path.Combine(dir, "model.onnx");
            File.WriteAllText(bad, "this is not a model");
            var image = Path.Combine(dir, "a.png");
            new Slim.Data.Image(32, 32).Save(image);
            var (code, stderr) = RunCommandTests.Run("infer", "--onnx", bad, "--images", image, "--out", Path.Combine(dir, "out"));
            Assert.Equal((int)ExitCode.InvalidInput, code);
            Assert.StartsWith($"slim: error: {bad}: not an ONNX model", stderr.Trim());
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));

            // Generator settings by the names a user gives them, not the C# property names.
            var e = Assert.Throws<ArgumentException>(() => new Slim.Data.SyntheticDetectionOptions { OutputDir = dir, ImageSize = 16 }.Validate());
            Assert.Contains("image_size, --image-size", e.Message);
            Assert.DoesNotContain("Parameter", e.Message);
            Assert.DoesNotContain("ImageSize", e.Message);

            // A label list the recipe names must exist (only the default name may be absent).
            var voc = Slim.Recipes.RecipeLoader.Parse<Slim.Recipes.Recipe>($$"""
                model: {name: yolov3_mobilenet_v1, width: 0.25, input_size: 64}
                dataset: {format: voc, root: {{dir}}, label_list: my_classes.txt}
                """);
            var le = Assert.ThrowsAny<SlimException>(() => DetectionTask.Create(voc));
            Assert.StartsWith($"dataset.label_list: {Path.Combine(dir, "my_classes.txt")} does not exist", le.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
