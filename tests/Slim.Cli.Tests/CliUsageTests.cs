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
