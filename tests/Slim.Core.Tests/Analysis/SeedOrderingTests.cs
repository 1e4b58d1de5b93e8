using Slim.Analysis;

namespace Slim.Core.Tests.Analysis;

public class SeedOrderingTests
{
    [Fact]
    public void HoldsOnlyWhenAheadInEverySeedByMoreThanTheSpread()
    {
        // Means 0.30 and 0.25, margin 0.05; spreads 0.02 and 0.04.
        var clear = SeedOrdering.Compare(new[] { 0.31, 0.29 }, new[] { 0.27, 0.23 });
        Assert.Equal(0.30, clear.MeanA, 12);
        Assert.Equal(0.25, clear.MeanB, 12);
        Assert.Equal(0.05, clear.Margin, 12);
        Assert.Equal(0.04, clear.Spread, 12);
        Assert.Equal(2, clear.SeedsAhead);
        Assert.True(clear.Holds);
        Assert.True(clear.NotBelow);

        // Ahead in both seeds, but by less than one row's spread: the seeds could make that difference.
        var narrow = SeedOrdering.Compare(new[] { 0.32, 0.26 }, new[] { 0.31, 0.25 });
        Assert.Equal(2, narrow.SeedsAhead);
        Assert.False(narrow.Holds);
        Assert.True(narrow.NotBelow);

        // A large mean margin carried by one seed does not hold either.
        var oneSeed = SeedOrdering.Compare(new[] { 0.40, 0.24 }, new[] { 0.25, 0.25 });
        Assert.Equal(1, oneSeed.SeedsAhead);
        Assert.False(oneSeed.Holds);

        var behind = SeedOrdering.Compare(new[] { 0.20, 0.21 }, new[] { 0.25, 0.26 });
        Assert.False(behind.Holds);
        Assert.False(behind.NotBelow);
    }

    [Fact]
    public void SeedsMustPair()
    {
        Assert.Throws<ArgumentException>(() => SeedOrdering.Compare(new[] { 0.3 }, new[] { 0.2, 0.1 }));
        Assert.Throws<ArgumentException>(() => SeedOrdering.Compare(Array.Empty<double>(), Array.Empty<double>()));
    }
}
