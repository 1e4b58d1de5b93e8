namespace Slim.Core.Tests.Analysis;

public class UnitsTests
{
    [Theory]
    [InlineData(12.3456, "12.346")]
    [InlineData(0.1, "0.100")]
    [InlineData(0.0118, "0.0118")]
    [InlineData(0.000652, "0.000652")]
    [InlineData(0.00046, "0.000460")] // a 32 px MobileNetV3 after pruning printed as "0.000"
    [InlineData(0, "0.000")]
    public void GflopsKeepThreeSignificantDigitsBelowATenth(double gflops, string text) => Assert.Equal(text, Units.GflopsNumber(gflops));
}
