using Slim.Pipeline;
using Slim.Detection;
using Spectre.Console;

namespace Slim.Core.Tests.Detection;

public sealed class CocoJsonAndTableTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-coco-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string json)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllText(p, json);
        return p;
    }

    // Category ids 3 and 7 map to classes 0 and 1. Image 12 has a large cat, a crowd of cats and a
    // medium dog (area field 2000); image 13 has nothing.
    private const string Annotations = """
    {
      "images": [{"id": 12, "width": 640, "height": 480, "file_name": "a.jpg"}, {"id": 13, "width": 10, "height": 10}],
      "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}],
      "annotations": [
        {"id": 1, "image_id": 12, "category_id": 3, "bbox": [0, 0, 100, 100], "area": 10000, "iscrowd": 0},
        {"id": 2, "image_id": 12, "category_id": 3, "bbox": [200, 0, 200, 200], "area": 40000, "iscrowd": 1},
        {"id": 3, "image_id": 12, "category_id": 7, "bbox": [0, 200, 50, 50], "area": 2000, "iscrowd": 0}
      ]
    }
    """;

    [Fact]
    public void FilesEvaluateLikeTheSameRecords()
    {
        var ann = Write("instances.json", Annotations);
        var gt = CocoJson.ReadAnnotations(ann);
        Assert.Equal(new long[] { 3, 7 }, gt.Categories.CategoryIds);
        Assert.Equal(new long[] { 12, 13 }, gt.ImageIds);
        Assert.Equal(new GroundTruthBox(12, 1, 0, 200, 50, 250, false, false, 2000), gt.Boxes[2]);
        Assert.True(gt.Boxes[1].IsCrowd);

        var dets = new[]
        {
            new DetectedBox(12, 0, 0.9f, 0, 0, 100, 90),      // cat, IoU 0.9
            new DetectedBox(12, 0, 0.8f, 250, 50, 300, 100),  // inside the crowd
            new DetectedBox(12, 1, 0.7f, 0, 200, 50, 250),    // dog
            new DetectedBox(13, 1, 0.6f, 0, 0, 5, 5),         // dog on an empty image: false positive
        };
        var res = Path.Combine(_dir, "sub", "detections.json");
        CocoJson.WriteResults(res, dets, gt.Categories);
        Assert.Contains("\"category_id\":7", File.ReadAllText(res));
        Assert.Equal(dets, CocoJson.ReadResults(res, gt.Categories));

        var fromFiles = CocoEvaluator.EvaluateFiles(ann, res);
        var fromRecords = CocoEvaluator.Evaluate(gt.Boxes, dets, new long[] { 12, 13 }, new[] { 0, 1 });
        Assert.Equal(fromRecords.Stats, fromFiles.Stats);
        Assert.Equal("dog", fromFiles.ClassNames![1]);
        // Cat: hit at IoU 0.50..0.90 (9 of 10 thresholds). Dog: hit (0.7) then fp (0.6) → AP 1.
        Assert.Equal(0.9, fromFiles.PerClassAp[0], 9);
        Assert.Equal(1, fromFiles.PerClassAp[1], 9);
        Assert.Equal(0.95, fromFiles.AP, 9);
    }

    [Fact]
    public void UnknownIdsAndMalformedFilesAreNamed()
    {
        var ann = Write("instances.json", Annotations);
        var badImage = Write("r1.json", """[{"image_id": 99, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 0.5}]""");
        Assert.Contains("result 0 has image_id 99", Assert.Throws<CocoFormatException>(() => CocoEvaluator.EvaluateFiles(ann, badImage)).Message);
        var badCat = Write("r2.json", """[{"image_id": 12, "category_id": 4, "bbox": [0, 0, 1, 1], "score": 0.5}]""");
        var ex = Assert.Throws<CocoFormatException>(() => CocoEvaluator.EvaluateFiles(ann, badCat));
        Assert.Contains("category_id 4", ex.Message);
        Assert.Contains("known: 3, 7", ex.Message);
        var badBox = Write("r3.json", """[{"image_id": 12, "category_id": 3, "bbox": [0, 0, 1], "score": 0.5}]""");
        Assert.Contains("four numbers", Assert.Throws<CocoFormatException>(() => CocoEvaluator.EvaluateFiles(ann, badBox)).Message);
        var notJson = Write("r4.json", "[{");
        Assert.Contains("not valid JSON", Assert.Throws<CocoFormatException>(() => CocoEvaluator.EvaluateFiles(ann, notJson)).Message);
        var noScore = Write("r5.json", """[{"image_id": 12, "category_id": 3, "bbox": [0, 0, 1, 1]}]""");
        Assert.Contains("lacks a numeric 'score'", Assert.Throws<CocoFormatException>(() => CocoEvaluator.EvaluateFiles(ann, noScore)).Message);
        var noImages = Write("bad.json", """{"categories": [], "annotations": []}""");
        Assert.Contains("'images'", Assert.Throws<CocoFormatException>(() => CocoJson.ReadAnnotations(noImages)).Message);
        Assert.Contains("file not found", Assert.Throws<CocoFormatException>(() => CocoJson.ReadAnnotations(Path.Combine(_dir, "none.json"))).Message);
    }

    [Fact]
    public void TablesShowEveryStatAndClass()
    {
        var e = CocoEvaluator.Evaluate(new[] { new GroundTruthBox(1, 0, 0, 0, 10, 10) }, new[] { new DetectedBox(1, 0, 0.9f, 0, 0, 10, 10) });
        var text = Render(ApTable.Coco(e).ToSpectre());
        foreach (var name in CocoEvaluation.StatNames) Assert.Contains(name, text);
        Assert.Contains("Value (%)", text);
        Assert.Contains("100.00", text); // AP of a perfect detection, in %
        Assert.Contains("n/a", text);    // AP_small: no small ground truth, pycocotools' -1
        Assert.DoesNotContain("1.000", text);
        var per = Render(ApTable.CocoPerClass(e, new Dictionary<int, string> { [0] = "cat" }).ToSpectre());
        Assert.Contains("cat", per);
        var voc = VocEvaluator.Evaluate(new[] { new GroundTruthBox(1, 0, 0, 0, 9, 9), new GroundTruthBox(1, 1, 20, 20, 29, 29) },
            new[] { new DetectedBox(1, 0, 0.9f, 0, 0, 9, 9) });
        var vt = Render(ApTable.Voc(voc, new Dictionary<int, string> { [0] = "cat", [1] = "dog" }).ToSpectre());
        Assert.Contains("dog", vt);
        Assert.Contains("mAP", vt);
        Assert.Contains("AP (%)", vt);
        Assert.Matches(@"mAP\s*│\s*50\.00", vt); // (100 + 0) / 2 in %
    }

    private static string Render(Spectre.Console.Rendering.IRenderable r)
    {
        var w = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(w), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 160;
        console.Write(r);
        return w.ToString();
    }
}
