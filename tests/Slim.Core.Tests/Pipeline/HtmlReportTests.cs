using System.Diagnostics;
using System.Text.RegularExpressions;
using Slim.Compression.Pruning.Sensitivity;
using Slim.Data;
using Slim.Pipeline;
using Slim.Pipeline.Plots;

namespace Slim.Core.Tests.Pipeline;

/// <summary>report.html: self-contained, escaped, with every figure of the run; rendered by headless Chromium.</summary>
public sealed class HtmlReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-html-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static RunReport Report() => new()
    {
        Name = "quick <start> & co",
        Metric = "VOC mAP@0.5",
        LatencyThreads = 1,
        LatencyRuns = 20,
        LatencyWarmup = 5,
        Stages =
        [
            new StageReport { Stage = "baseline", Detail = "yolov3_mobilenet_v1 ×0.25", Gflops = 0.091, Parameters = 1_553_000, SizeMiB = 5.92, Ap = 0.2579 },
            new StageReport { Stage = "onnx int8", Detail = "ONNX Runtime", Gflops = 0.029, Parameters = 516_000, OnnxSizeMiB = 0.65, OrtAp = 0.2556, LatencyMs = 1.31, LatencyP10Ms = 1.25, LatencyP90Ms = 1.52 },
        ],
    };

    // A run folder with the figures a pruned, quantized run leaves.
    private string RunWithFigures()
    {
        var prune = Directory.CreateDirectory(Path.Combine(_dir, "stages", "01_prune")).FullName;
        SensitivityChart.Save(new SensitivityResult("l1_norm", 0.25, [new("yolo_block.0.0.0.conv.weights", 0.3, 0.24, 0.04), new("yolo_block.0.0.1.conv.weights", 0.3, 0.2, 0.2)]),
            Path.Combine(prune, PruneSensitivity.PngName));
        var h = new TrainHistory();
        for (int i = 1; i <= 50; i++) h.AddStep(i, 20.0 / i, 0.001);
        h.AddEval(50, 0.25);
        foreach (var dir in new[] { Path.Combine(_dir, "stages", "00_train"), prune, Path.Combine(_dir, "stages", "02_quant", "qat") })
        {
            Directory.CreateDirectory(dir);
            h.Save(Path.Combine(dir, TrainHistory.FileName));
            TrainingCurve.Save(dir, "train", "VOC mAP@0.5");
        }
        return _dir;
    }

    [Fact]
    public void TheReportIsOneEscapedFileWithEveryFigureEmbedded()
    {
        var run = RunWithFigures();
        var figures = ReportFigure.Find(run);
        Assert.Equal(new[]
        {
            "stages/00_train/training.png", "stages/01_prune/sensitivity.png", "stages/01_prune/training.png", "stages/02_quant/qat/training.png",
        }, figures.Select(f => f.RelativePath));
        Assert.Equal("02_quant (qat): training curve", figures[3].Title);
        Assert.Equal("01_prune: sensitivity of each pruned layer", figures[1].Title);

        var html = HtmlReport.Render(Report(), figures, run);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Contains("<h1>quick &lt;start&gt; &amp; co</h1>", html);
        Assert.DoesNotContain("<start>", html);
        // Self-contained: every src is a data URI, nothing refers to the network or another file.
        var sources = Regex.Matches(html, "src=\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(4, sources.Count);
        Assert.All(sources, s => Assert.StartsWith("data:image/png;base64,", s));
        Assert.DoesNotContain("http", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<link", html);
        // The embedded bytes are the files.
        Assert.Equal(File.ReadAllBytes(Path.Combine(run, figures[1].RelativePath)), Convert.FromBase64String(sources[1]["data:image/png;base64,".Length..]));
        // The stage table: one row a stage, numbers as in report.md, latency with its spread.
        Assert.Equal(2, Regex.Matches(html, "<tr><td>").Count);
        Assert.Contains("<td class=\"num\">25.79</td>", html);
        Assert.Contains("1.31 (1.25–1.52)", html);
        Assert.Contains("20 runs after 5 warm-up", html);

        var md = Report().ToMarkdown(figures);
        Assert.Contains("- [00_train: training curve](stages/00_train/training.png)", md);
        Assert.Contains(HtmlReport.FileName, md);
    }

    [SkippableFact]
    public void HeadlessChromiumRendersTheTableAndTheFigures()
    {
        const string chromium = "/usr/bin/chromium";
        Skip.IfNot(File.Exists(chromium), $"{chromium} is not installed (Debian package chromium; ./build.sh setup installs it)");
        var run = RunWithFigures();
        var page = Path.Combine(run, HtmlReport.FileName);
        File.WriteAllText(page, HtmlReport.Render(Report(), ReportFigure.Find(run), run));
        var shot = Path.Combine(_dir, "shot.png");
        var psi = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--hide-scrollbars", $"--user-data-dir={Path.Combine(_dir, "profile")}",
                     "--window-size=1280,2400", $"--screenshot={shot}", new Uri(page).AbsoluteUri,
                 })
            psi.ArgumentList.Add(a);
        using (var proc = Process.Start(psi)!)
        {
            var stderr = proc.StandardError.ReadToEndAsync();
            proc.StandardOutput.ReadToEnd();
            Assert.True(proc.WaitForExit(120_000), "chromium did not finish within 2 minutes");
            Assert.True(File.Exists(shot), $"chromium wrote no screenshot (exit {proc.ExitCode}): {stderr.Result}");
        }
        var img = Image.Load(shot);
        Assert.Equal((1280, 2400), (img.Width, img.Height));
        int Near(byte r, byte g, byte b, int tol)
        {
            int n = 0;
            for (int y = 0; y < img.Height; y++)
                for (int x = 0; x < img.Width; x++)
                    if (Math.Abs(img[y, x, 0] - r) <= tol && Math.Abs(img[y, x, 1] - g) <= tol && Math.Abs(img[y, x, 2] - b) <= tol) n++;
            return n;
        }
        int total = img.Width * img.Height;
        Assert.True(Near(255, 255, 255, 0) < total * 0.97, "the screenshot is blank");
        Assert.True(Near(0xee, 0xf2, 0xf7, 1) > 2000, "the table header's background is not on the page");
        Assert.True(Near(0x1f, 0x77, 0xb4, 10) > 200, "the figures' first curve colour is not on the page (images not shown)");
    }
}
