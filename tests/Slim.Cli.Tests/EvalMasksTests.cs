using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Slim.Cli.Tests;

/// <summary>`slim eval --masks --predictions`: label PNGs written by PIL, scored against numpy's own confusion matrix.</summary>
public sealed class EvalMasksTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-eval-masks-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    // Three Cityscapes-named ground truths (8-bit gray, classes 0-2 and 255 ignored; class 3 never true) and their
    // predictions as indexed PNGs (classes 0-3, one more without ground truth); numpy's mIoU over the classes present.
    private Dictionary<string, double> Write()
    {
        const string python = "/usr/bin/python3";
        Skip.IfNot(File.Exists(python), $"{python} is not installed (Debian package python3)");
        var script = Path.Combine(_dir, "make.py");
        File.WriteAllText(script, """
            import sys, os, json
            try:
                import numpy as np
                from PIL import Image
            except ImportError as e:
                print(e, file=sys.stderr); sys.exit(3)
            rng = np.random.default_rng(0)
            os.makedirs("gt/frankfurt"); os.makedirs("pred")
            N = 4
            conf = np.zeros((N, N), np.int64)
            ignored = 0
            palette = [v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)]
            def prediction(p, name):
                img = Image.fromarray(p.astype(np.uint8), "P")
                img.putpalette(palette)
                img.save(name)
            for i in range(3):
                h, w = 20 + 5 * i, 30
                t = rng.integers(0, 3, (h, w))
                t[rng.random((h, w)) < 0.1] = 255
                p = np.where(rng.random((h, w)) < 0.7, np.minimum(t, 3), rng.integers(0, N, (h, w)))
                p[t == 255] = rng.integers(0, N, (h, w))[t == 255]
                Image.fromarray(t.astype(np.uint8), "L").save(f"gt/frankfurt/frankfurt_{i:06d}_000019_gtFine_labelTrainIds.png")
                prediction(p, f"pred/frankfurt_{i:06d}_000019_leftImg8bit.png")
                valid = t != 255
                ignored += int((~valid).sum())
                conf += np.bincount(N * t[valid] + p[valid], minlength=N * N).reshape(N, N)
            prediction(np.zeros((5, 5)), "pred/lonely_leftImg8bit.png")
            Image.fromarray(np.zeros((20, 30, 3), np.uint8), "RGB").save("rgb.png")
            tp = np.diag(conf).astype(float)
            truth, predicted = conf.sum(1), conf.sum(0)
            present = truth > 0
            iou = tp[present] / (truth + predicted - tp)[present]
            json.dump({"miou": iou.mean(), "pixel_accuracy": tp.sum() / conf.sum(), "ignored": ignored, "iou0": iou[0]}, open("expect.json", "w"))
            """);
        using var p = Process.Start(new ProcessStartInfo(python, script) { WorkingDirectory = _dir, RedirectStandardError = true })!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Skip.If(p.ExitCode == 3, $"python3 lacks numpy/PIL ({err.Trim()}; Debian packages python3-numpy, python3-pil)");
        Assert.True(p.ExitCode == 0, err);
        return JsonSerializer.Deserialize<Dictionary<string, double>>(File.ReadAllText(Path.Combine(_dir, "expect.json")))!;
    }

    private static string Pct(double v) => (v * 100).ToString("F2", CultureInfo.InvariantCulture);

    [SkippableFact]
    public void ScoresLabelPngsAsNumpysConfusionMatrixDoes()
    {
        var expect = Write();
        string gt = Path.Combine(_dir, "gt"), pred = Path.Combine(_dir, "pred");
        var (code, stdout, stderr) = PruneCliSupport.InvokeRecorded("eval", "--masks", gt, "--predictions", pred, "--num-classes", "4");
        Assert.True(code == 0, stderr);
        Assert.Contains($"mIoU {Pct(expect["miou"])} % (the 3 of 4 classes present in the ground truth)", stdout);
        Assert.Contains($"pixel accuracy {Pct(expect["pixel_accuracy"])} %", stdout);
        Assert.Contains($"{expect["ignored"]:N0} ignored", stdout);
        Assert.Contains("1 prediction(s) without ground truth left out", stdout);
        Assert.Matches($@"│\s*0\s*│\s*{Pct(expect["iou0"])}\s*│", stdout);
        Assert.Matches(@"│\s*3\s*│\s*n/a\s*│\s*n/a\s*│", stdout); // class 3: predicted, never true
        Assert.Matches($@"│\s*mean\s*│\s*{Pct(expect["miou"])}\s*│", stdout);

        // Class names from a file label the rows; their count must be the class count.
        var names = Path.Combine(_dir, "names.txt");
        File.WriteAllLines(names, ["road", "car", "sky", "boat"]);
        var (named, namedOut, namedErr) = PruneCliSupport.InvokeRecorded("eval", "--masks", gt, "--predictions", pred, "--num-classes", "4", "--class-names", names);
        Assert.True(named == 0, namedErr);
        Assert.Matches(@"│\s*3\s*│\s*boat\s*│\s*n/a", namedOut);
        var (three, _, threeErr) = PruneCliSupport.InvokeRecorded("eval", "--masks", gt, "--predictions", pred, "--num-classes", "3", "--class-names", names);
        Assert.Equal((int)ExitCode.Usage, three);
        Assert.Contains("4 names for --num-classes 3", threeErr);

        // Too few classes for the predictions: the file and the pixel are named.
        var (few, _, fewErr) = PruneCliSupport.InvokeRecorded("eval", "--masks", gt, "--predictions", pred, "--num-classes", "3");
        Assert.Equal((int)ExitCode.InvalidInput, few);
        Assert.Matches(@"slim: error: .*pred/frankfurt_\d+_000019_leftImg8bit\.png: label 3 at x \d+, y \d+ is not one of the 3 classes", fewErr);

        // A colour PNG is not a label map; a missing prediction is named before anything is read.
        File.Copy(Path.Combine(_dir, "rgb.png"), Path.Combine(pred, "frankfurt_000001_000019_leftImg8bit.png"), overwrite: true);
        var (rgb, _, rgbErr) = PruneCliSupport.InvokeRecorded("eval", "--masks", gt, "--predictions", pred, "--num-classes", "4");
        Assert.Equal((int)ExitCode.InvalidInput, rgb);
        Assert.Contains("is a RGB PNG; label maps are 8-bit grayscale (value = class) or indexed (palette index = class)", rgbErr);
        File.Delete(Path.Combine(pred, "frankfurt_000001_000019_leftImg8bit.png"));
        var (missing, _, missingErr) = PruneCliSupport.InvokeRecorded("eval", "--masks", gt, "--predictions", pred, "--num-classes", "4");
        Assert.Equal((int)ExitCode.InvalidInput, missing);
        Assert.Contains("no prediction for 1 of the 3 ground-truth masks, e.g. frankfurt/frankfurt_000001_000019_gtFine_labelTrainIds.png", missingErr);

        var (usage, _, usageErr) = PruneCliSupport.InvokeRecorded("eval", "--masks", gt, "--predictions", pred, "--num-classes", "4", "--ignore", "2");
        Assert.Equal((int)ExitCode.Usage, usage);
        Assert.Contains("--ignore 2 is one of the 4 classes", usageErr);
    }
}
