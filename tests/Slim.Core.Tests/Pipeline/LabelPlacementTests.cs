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
    public void WhenEverySpotIsTakenTheLeastCoveredOneWins()
    {
        // Nine boxes on one small spot of a tiny image: every label overlaps something, none is lost.
        var boxes = Enumerable.Range(0, 9).Select(_ => (10f, 10f, 30f, 30f)).ToList();
        var spots = LabelPlacement.Place(boxes, Enumerable.Repeat((20, 10), 9).ToList(), 40, 40);
        Assert.Equal(9, spots.Count);
        // Four free spots exist (above, inside top, inside bottom, below): the four best boxes take them, disjoint.
        Assert.Equal(new[] { 0, 10, 20, 30 }, spots.Take(4).Select(r => r.Y).Order());
        Assert.All(spots.Take(4), r => Assert.Equal(10, r.X));
        // The rest overlap exactly one label each, never two.
        foreach (var r in spots.Skip(4)) Assert.Equal(200, spots.Take(4).Sum(p => p.OverlapArea(r)));
        Assert.Throws<ArgumentException>(() => LabelPlacement.Place(boxes, [(1, 1)], 40, 40));
    }
}
