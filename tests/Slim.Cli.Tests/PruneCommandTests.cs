using System.Globalization;
using System.Text.RegularExpressions;
using Slim.Cli.Commands;
using Slim.Compression.Pruning;
using Slim.Torch.Modules;
using Xunit.Abstractions;

namespace Slim.Cli.Tests;

/// <summary>`slim prune` standalone and `slim flops` with pruning options: no data, no recipe.</summary>
public class PruneCommandTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-prune-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static ModelSpec FullSize => new("yolov3_mobilenet_v1", null, 80, 1.0, 608, true);

    // Channel counts do not depend on the input size; 224 px keeps the flops test fast (the 608 figures are in the report).
    private static ModelSpec FullWidth224 => new("yolov3_mobilenet_v1", null, 80, 1.0, 224, true);

    [Fact]
    public void DryRunOfTheFullSizeModelHalvesBlockZeroAndPrintsTheTotals()
    {
        var (console, text) = PruneCliSupport.Recorder();
        var result = PruneCommand.Standalone(FullSize, new PruneCommand.PruneRequest(null, "r578", null), dryRun: true, outPath: null, console);
        var printed = text.ToString();
        output.WriteLine(printed);

        Assert.True(result.After.PaddleGFlops < result.Before.PaddleGFlops);
        Assert.Equal(18, result.Targets.Count);
        Assert.Equal(256, result.Options.ChannelOverrides["yolo_block.0.0.0.conv"]);
        var layer = result.Report.Layers.Single(l => l.ModulePath == "yolo_block.0.0.0.conv" && l.Role == MemberRole.ConvOutput);
        Assert.Equal((512L, 256L), (layer.Before, layer.After));
        // Block 1 (ratio 0.7) and block 2 (0.8) of the r578 preset.
        Assert.Equal(256 - 179, result.Options.ChannelOverrides["yolo_block.1.0.0.conv"]);
        Assert.Equal(128 - 102, result.Options.ChannelOverrides["yolo_block.2.0.0.conv"]);
        Assert.Matches(@"yolo_block\.0\.0\.0\.conv\s*│\s*512 → 256", printed);
        Assert.Contains("GFLOPs (Paddle)", printed);
        Assert.Contains(result.Before.PaddleGFlops.ToString("F3", CultureInfo.InvariantCulture), printed);
        Assert.Contains(result.After.PaddleGFlops.ToString("F3", CultureInfo.InvariantCulture), printed);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void AlignPrintsTheRoundedGroupsAndKeepsMultiplesOfEight()
    {
        var (console, text) = PruneCliSupport.Recorder();
        var result = PruneCommand.Standalone(FullWidth224, new PruneCommand.PruneRequest(null, "r578", null, 8), dryRun: true, outPath: null, console);
        var printed = text.ToString();
        Assert.Contains("channel alignment: 12 of 18 groups rounded", printed);
        Assert.Matches(@"yolo_block\.1\.0\.0\.conv\.weights\s*│\s*0\.7\s*│\s*256\s*│\s*77\s*│\s*80", printed);
        Assert.Equal(80, result.Options.ChannelOverrides["yolo_block.1.0.0.conv"]);
        Assert.All(result.Plan.Groups, g => Assert.Equal(0, g.ChannelsAfter % 8));
        var (code, err) = RunCommandTests.Run("prune", "--model", "yolov3_mobilenet_v1", "--pruned_ratios", "r578", "--align", "0", "--dry-run");
        Assert.Equal((int)ExitCode.Usage, code);
        Assert.Equal("slim: error: --align 0: expected 1 (off) … 1024, e.g. 8 or 16", err.Trim());
    }

    [Fact]
    public void ExplainSaysWhyEachConvWasPrunedOrLeftAlone()
    {
        var (console, text) = PruneCliSupport.Recorder();
        PruneCommand.Standalone(FullWidth224, new PruneCommand.PruneRequest("yolo_block.0.*,yolo_block.2.0.0.conv.weights", "0.5", null),
            dryRun: true, outPath: null, console, explain: true);
        var printed = text.ToString();
        // The explanation is the last table printed.
        string Why(string conv) => printed[printed.IndexOf("why each conv", StringComparison.Ordinal)..].Split('\n')
            .Single(l => Regex.IsMatch(l, $@"│ {Regex.Escape(conv)}\s+│")).Split('│')[3].Trim();
        Assert.Equal("pruned, ratio 0.5", Why("yolo_block.0.0.0.conv"));
        Assert.Equal("unprunable: its channels reach a model output", Why("yolo_output.0.conv"));
        Assert.Equal("not selected: pruned_params does not name it or a conv coupled to it", Why("backbone.conv1.conv"));
        Assert.Equal("not pruned: a depthwise conv follows its producer, which is not pruned", Why("backbone.conv2_1.dw.conv"));
        Assert.Matches(@"│ yolo_block\.2\.0\.0\.conv\s+│\s+128 → 64 │ pruned, ratio 0\.5", printed);

        (console, text) = PruneCliSupport.Recorder();
        PruneCommand.Standalone(FullWidth224, new PruneCommand.PruneRequest("yolo_block.2.2.conv.weights", "0.003", null), dryRun: true, outPath: null, console, explain: true);
        printed = text.ToString();
        Assert.Equal("kept whole: ratio 0.003 of 128 channels rounds to no channel", Why("yolo_block.2.2.conv"));
    }

    private static double[] Row(string printed, string label)
    {
        var line = printed.Split('\n').Single(l => l.Contains(label, StringComparison.Ordinal));
        return Regex.Matches(line[(line.IndexOf("224x224", StringComparison.Ordinal) + 7)..], @"\d+\.\d+")
            .Select(m => double.Parse(m.Value, CultureInfo.InvariantCulture)).ToArray();
    }

    [Fact]
    public void FlopsPrintsPrunedFiguresForBothPresets()
    {
        var figures = new Dictionary<string, double[]>();
        foreach (var preset in new[] { "r578", "sensity" })
        {
            var (console, text) = PruneCliSupport.Recorder();
            Assert.Equal(ExitCode.Ok, FlopsCommand.Execute(FullWidth224, Array.Empty<int>(), false, console, new PruneCommand.PruneRequest(null, preset, null)));
            var printed = text.ToString();
            output.WriteLine(printed);
            figures["baseline"] = Row(printed, "unpruned");
            figures[preset] = Row(printed, $"pruned {preset}");
        }
        // Columns: GFLOPs (Paddle), FLOPs (G), params (M), size (MiB).
        foreach (var (name, f) in figures)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {f[0]:F3} GFLOPs, {f[2]:F3} M params, {f[3]:F2} MiB"));
        Assert.True(figures["r578"][0] < figures["sensity"][0]);
        Assert.True(figures["sensity"][0] < figures["baseline"][0]);
        Assert.True(figures["r578"][2] < figures["sensity"][2] && figures["sensity"][2] < figures["baseline"][2]);
        Assert.True(figures["r578"][3] < figures["baseline"][3]);
    }

    [Fact]
    public void PrunesATinyModelToACheckpointThatRebuilds()
    {
        var outFile = Path.Combine(_dir, "pruned.ckpt");
        var (code, stderr) = PruneCliSupport.Invoke("prune", "--model", "yolov3_mobilenet_v1", "--num-classes", "3", "--width", "0.25",
            "--input-size", "64", "--pruned-params", "yolo_block.*", "--pruned-ratios", "0.5", "--criterion", "geometry_median", "--out", outFile);
        Assert.True(code == 0, stderr);
        var (model, arch, options) = TestCheckpoints.Load(outFile);
        using (model)
        {
            Assert.Equal("yolov3_mobilenet_v1", arch);
            Assert.Equal(3, options.NumClasses);
            Assert.Equal(options.ChannelOverrides["yolo_block.0.0.0.conv"], ((Conv2d)model.get_submodule("yolo_block.0.0.0.conv")).out_channels);
            Assert.True(options.ChannelOverrides.Count >= 18);
        }
    }

    public static TheoryData<string[], string> BadInputs => new()
    {
        { new[] { "--pruned_params", "yolo_block.0.*", "--pruned_ratios", "0.5,0.2" }, "--pruned_ratios has 2 ratios but --pruned_params names 6 parameters" },
        { new[] { "--pruned_ratios", "r579" }, "nearest: 'r578'" },
        { new[] { "--pruned_params", "yolo_blok.0.0.0.conv.weights", "--pruned_ratios", "0.5" }, "no parameter 'yolo_blok.0.0.0.conv.weights'" },
        { new[] { "--pruned_params", "yolo_block.0.*", "--pruned_ratios", "1.2" }, "outside [0, 1)" },
        { new[] { "--pruned_params", "yolo_block.0.*", "--pruned_ratios", "0.3", "--criterion", "l2_norm" }, "unknown pruning criterion 'l2_norm'" },
        { new[] { "--pruned_params", "yolo_output.0.conv.weights", "--pruned_ratios", "0.3" }, "yolo_output.0.conv.weights" },
        { new[] { "--pruned_params", "backbone.conv2_1.dw.conv.weights", "--pruned_ratios", "0.3" }, "depthwise" },
        { new[] { "--pruned_ratios", "sensity", "--pruned_params", "yolo_block.0.*" }, "preset 'sensity' has 18 ratios" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadRatiosAndNamesFailWithExitCode3AndWriteNothing(string[] pruneArgs, string expected)
    {
        var outFile = Path.Combine(_dir, "never.ckpt");
        var args = new[] { "prune", "--model", "yolov3_mobilenet_v1", "--num-classes", "3", "--width", "0.25", "--input-size", "64", "--out", outFile }
            .Concat(pruneArgs).ToArray();
        var (code, stderr) = PruneCliSupport.Invoke(args);
        output.WriteLine(stderr);
        Assert.Equal((int)ExitCode.InvalidInput, code);
        var lines = stderr.TrimEnd().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("slim: error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.False(File.Exists(outFile));
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void FlopsRejectsABadRatioListWithExitCode3()
    {
        var (code, stderr) = PruneCliSupport.Invoke("flops", "--model", "yolov3_mobilenet_v1", "--width", "0.25", "--input-size", "64",
            "--pruned_params", "yolo_block.0.*", "--pruned_ratios", "0.1,0.2,0.3");
        Assert.Equal((int)ExitCode.InvalidInput, code);
        Assert.Contains("--pruned_ratios has 3 ratios", stderr);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }
}
