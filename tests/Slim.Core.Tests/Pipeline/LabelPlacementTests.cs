using Slim.Pipeline;

namespace Slim.Core.Tests.Pipeline;

public class LabelPlacementTests
{
    private static bool Overlap(PixelRect a, PixelRect b) => a.OverlapArea(b) > 0;

    [Fact]
    public void LabelsOfBoxesSharingACornerDoNotCoverEachOther()
    {
        // Three boxes with one top-left corner (a crowd of one object's duplicates); labels 60×14.
        var boxes = new List<(float, float, float, float)> { (50, 60, 150, 160), (50, 60, 140, 150), (50, 60, 130, 170) };
        var sizes = Enumerable.Repeat((60, 14), 3).ToList();
        var spots = LabelPlacement.Place(boxes, sizes, 320, 240);
        Assert.Equal(new PixelRect(50, 46, 60, 14), spots[0]); // the best box keeps the usual spot above its corner
        for (int i = 0; i < 3; i++)
            for (int j = i + 1; j < 3; j++)
                Assert.False(Overlap(spots[i], spots[j]), $"labels {i} and {j} overlap: {spots[i]} {spots[j]}");
    }

    [Fact]
    public void LabelsStayInsideTheImage()
    {
        // A box touching the top-left corner: its label cannot go above it.
        var spots = LabelPlacement.Place([(0f, 0f, 40f, 30f), (300f, 220f, 330f, 250f)], [(60, 14), (60, 14)], 320, 240);
        foreach (var s in spots)
        {
            Assert.InRange(s.X, 0, 320 - s.Width);
            Assert.InRange(s.Y, 0, 240 - s.Height);
        }
        Assert.Equal(new PixelRect(0, 0, 60, 14), spots[0]);
    }

    [Fact]
    public void ACrowdTakesTheNearestFreeSpotsOfTheImage()
    {
        // Ten boxes on one spot of a 160×160 image, labels 70×14: eight spots by the box are not enough for ten
        // labels (four distinct ones here), the rest go to the nearest free places; still none overlaps another.
        var boxes = Enumerable.Range(0, 10).Select(i => (40f + i, 60f, 110f + i, 100f)).ToList();
        var spots = LabelPlacement.Place(boxes, Enumerable.Repeat((70, 14), 10).ToList(), 160, 160);
        for (int i = 0; i < spots.Count; i++)
            for (int j = i + 1; j < spots.Count; j++)
                Assert.False(Overlap(spots[i], spots[j]), $"labels {i} and {j} overlap: {spots[i]} {spots[j]}");
        Assert.All(spots, s => Assert.True(s.X >= 0 && s.Right <= 160 && s.Y >= 0 && s.Bottom <= 160));
    }

    [Fact]
    public void WhenTheImageIsFullTheLeastCoveredSpotWins()
    {
        // Nine labels of 20×10 in a 40×40 image: four free spots by the box, then the image is full.
        var boxes = Enumerable.Range(0, 9).Select(_ => (10f, 10f, 30f, 30f)).ToList();
        var spots = LabelPlacement.Place(boxes, Enumerable.Repeat((20, 10), 9).ToList(), 40, 40);
        Assert.Equal(9, spots.Count);
        Assert.Equal(new[] { 0, 10, 20, 30 }, spots.Take(4).Select(r => r.Y).Order());
        // The four fill x 10-30 top to bottom, so no 20-wide spot is free: each later label covers exactly one of them.
        foreach (var r in spots.Skip(4)) Assert.Equal(200, spots.Take(4).Sum(p => p.OverlapArea(r)));
        Assert.Throws<ArgumentException>(() => LabelPlacement.Place(boxes, [(1, 1)], 40, 40));
    }
}
