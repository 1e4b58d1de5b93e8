using Slim.Compression.Pruning.Sensitivity;
using Slim.Data;
using Slim.Pipeline.Plots;

namespace Slim.Core.Tests.Pipeline;

/// <summary>The figures Slim draws: decoded by an independent reader (OpenCV's libpng), measured, and checked for their content.</summary>
public sealed class PlotTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-plots-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    // The quick start's 18 YOLOv3 head parameters, three blocks of six, two ratios each.
    private static SensitivityResult Yolo18()
    {
        var names = new List<string>();
        for (int b = 0; b < 3; b++)
            foreach (var leaf in new[] { "0.0", "0.1", "1.0", "1.1", "2", "tip" })
                names.Add($"yolo_block.{b}.{leaf}.conv.weights");
        var points = new List<SensitivityPoint>();
        for (int k = 0; k < names.Count; k++)
        {
            points.Add(new SensitivityPoint(names[k], 0.3, 0.25, 0.01 * k));
            points.Add(new SensitivityPoint(names[k], 0.6, 0.20, 0.03 * k - 0.1));
        }
        return new SensitivityResult("l1_norm", 0.253, points);
    }

    private static int CountNear(Image img, ScottPlot.Color c, int tolerance = 12)
    {
        int n = 0;
        for (int y = 0; y < img.Height; y++)
            for (int x = 0; x < img.Width; x++)
                if (Math.Abs(img[y, x, 0] - c.R) <= tolerance && Math.Abs(img[y, x, 1] - c.G) <= tolerance && Math.Abs(img[y, x, 2] - c.B) <= tolerance) n++;
        return n;
    }

    [Fact]
    public void PanelsKeepBlocksTogetherAndHoldAtMostSixCurves()
    {
        var yolo = SensitivityChart.Panels(Yolo18().Parameters);
        Assert.Equal(3, yolo.Count);
        Assert.All(yolo, p => Assert.Equal(6, p.Count));
        Assert.All(yolo[1], p => Assert.StartsWith("yolo_block.1.", p));

        // MobileNetV1: 13 blocks of a depthwise and a pointwise conv, plus the first conv; no block is split.
        var mobilenet = new List<string> { "backbone.conv1.conv.weights" };
        for (int i = 0; i < 13; i++) mobilenet.AddRange([$"backbone.conv{i + 2}.dw.conv.weights", $"backbone.conv{i + 2}.pw.conv.weights"]);
        var panels = SensitivityChart.Panels(mobilenet);
        Assert.Equal(mobilenet, panels.SelectMany(p => p));
        Assert.All(panels, p => Assert.InRange(p.Count, 1, SensitivityChart.MaxCurvesPerPanel));
        foreach (var p in panels)
            Assert.DoesNotContain(p, n => n.EndsWith(".dw.conv.weights") && p[^1] == n); // a dw never ends a panel without its pw
        Assert.Equal(5, panels.Count);
        // A block larger than a panel is split into full panels in order.
        var big = Enumerable.Range(0, 14).Select(i => $"layer1.0.conv{i}.weight").ToList();
        Assert.Equal(new[] { 6, 6, 2 }, SensitivityChart.Panels(big).Select(p => p.Count));
    }

    [Fact]
    public void SensitivityChartDecodesAtItsSizeWithDistinctCurves()
    {
        var result = Yolo18();
        var path = Path.Combine(_dir, "sensitivity.png");
        SensitivityChart.Save(result, path);
        var (width, height, columns, rows) = SensitivityChart.Size(result);
        Assert.Equal((3, 1), (columns, rows));
        var img = Image.Load(path);
        Assert.Equal((width, height), (img.Width, img.Height));
        // Every panel draws its six curves in the palette's first six colours; the tenth is never used.
        for (int c = 0; c < 6; c++) Assert.True(CountNear(img, PlotStyle.Colors[c]) > 50, $"colour {c} is missing");
        Assert.True(CountNear(img, PlotStyle.Colors[9], 4) < 20, "a tenth curve colour appears in panels of six");
        // Not blank: a white figure with dark text (titles, ticks, legend).
        Assert.True(CountNear(img, ScottPlot.Colors.White, 0) > width * height / 2);
        Assert.True(CountNear(img, ScottPlot.Colors.Black, 60) > 500, "no text or axes drawn");
        Assert.Equal(File.ReadAllBytes(path), SensitivityChart.RenderPng(result)); // deterministic
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void ASingleBlockIsOnePanelWithTheBaselineInTheTitle()
    {
        var one = new SensitivityResult("fpgm", 0.5, [new("conv1.weight", 0.5, 0.4, 0.2), new("conv2.weight", 0.5, 0.45, 0.1)]);
        var (width, height, columns, rows) = SensitivityChart.Size(one);
        Assert.Equal((SensitivityChart.PanelWidth, SensitivityChart.PanelHeight, 1, 1), (width, height, columns, rows));
        var img = Image.Decode(SensitivityChart.RenderPng(one));
        Assert.Equal((width, height), (img.Width, img.Height));
        Assert.True(CountNear(img, PlotStyle.Colors[0]) > 50 && CountNear(img, PlotStyle.Colors[1]) > 50);
    }

    [Fact]
    public void TrainingCurveHasALossPanelAndAnEvaluationPanel()
    {
        var h = new TrainHistory();
        for (int i = 1; i <= 300; i++) h.AddStep(i, 30.0 / Math.Sqrt(i) + (i % 7), 0.002);
        var lossOnly = Image.Decode(TrainingCurve.RenderPng(h, "train", "VOC mAP@0.5"));
        Assert.Equal(TrainingCurve.Size(h), (lossOnly.Width, lossOnly.Height));
        Assert.Equal(TrainingCurve.PanelHeight, lossOnly.Height);
        Assert.True(CountNear(lossOnly, PlotStyle.Colors[0]) > 300, "no loss curve");
        Assert.True(CountNear(lossOnly, PlotStyle.Colors[1]) < 20, "an evaluation drawn without evaluations");

        h.AddEval(100, 0.12);
        h.AddEval(300, 0.25);
        var path = Path.Combine(_dir, "run");
        Directory.CreateDirectory(path);
        h.Save(Path.Combine(path, TrainHistory.FileName));
        var png = TrainingCurve.Save(path, "train", "VOC mAP@0.5");
        Assert.Equal(Path.Combine(path, TrainingCurve.FileName), png);
        var both = Image.Load(png!);
        Assert.Equal((TrainingCurve.Width, 2 * TrainingCurve.PanelHeight), (both.Width, both.Height));
        Assert.True(CountNear(both, PlotStyle.Colors[1]) > 40, "no evaluation markers");
        // The markers are in the lower panel.
        int upper = 0;
        for (int y = 0; y < TrainingCurve.PanelHeight; y++)
            for (int x = 0; x < both.Width; x++)
                if (Math.Abs(both[y, x, 0] - PlotStyle.Colors[1].R) < 8 && Math.Abs(both[y, x, 1] - PlotStyle.Colors[1].G) < 8 && Math.Abs(both[y, x, 2] - PlotStyle.Colors[1].B) < 8) upper++;
        Assert.True(upper < 5, $"{upper} evaluation pixels in the loss panel");
        Assert.Null(TrainingCurve.Save(Path.Combine(_dir, "empty"), "train", "AP"));
    }
}
