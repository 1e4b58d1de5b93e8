using Slim.Data;

namespace Slim.Core.Tests.Data;

public class DataSummaryTests
{
    [Fact]
    public void DetectionSummaryCountsObjectsPerClassAndSizes()
    {
        var samples = new List<DetectionSample>
        {
            new(1, "a.jpg", 320, 240, [new(0, 0, 10, 10, 0), new(0, 0, 40, 40, 1, IsDifficult: true)]),
            new(2, "b.jpg", 160, 160, [new(0, 0, 20, 20, 1), new(5, 5, 25, 25, 1, IsCrowd: true)]),
            new(3, "c.jpg", 320, 240, []),
        };
        var text = DataSummary.Describe("train", new DetectionDataset("test", ["cat", "dog", "bird"], samples));
        Assert.Equal("train: 3 images, 4 objects (1.3 per image; 1 difficult, 1 crowd); per class: cat 1, dog 3, bird 0 (1 class(es) without examples); " +
                     "images 160–320 × 160–240 px; box sides √(w·h) 10–40 px (median 20)", text);
        var one = DataSummary.Describe("val", new DetectionDataset("test", ["cat"], [samples[0] with { Boxes = [new(0, 0, 10, 10, 0)] }]));
        Assert.Contains("images 320×240", one);
    }

    private sealed class Labels(int[] labels) : ILabeledImages
    {
        public int Count => labels.Length;
        public Image GetImage(int i) => throw new NotSupportedException();
        public int LabelOf(int i) => labels[i];
        public ILabeledImages Take(int n) => new Labels(labels[..n]);
    }

    [Fact]
    public void ClassificationSummaryCountsExamplesPerClass() =>
        Assert.Equal("test: 5 images in 3 classes: shirt 2, shoe 3, bag 0 (1 class(es) without examples)",
            DataSummary.Describe("test", new Labels([1, 0, 1, 1, 0]), ["shirt", "shoe", "bag"]));
}
