using ScottPlot;

namespace Slim.Pipeline.Plots;

/// <summary>What every Slim figure shares: a sans-serif font when the system has one, distinct colours and markers.</summary>
internal static class PlotStyle
{
    /// <summary>Ten colours that stay apart on white (Tableau's / matplotlib's category10).</summary>
    public static readonly Color[] Colors =
    [
        Color.FromHex("#1f77b4"), Color.FromHex("#ff7f0e"), Color.FromHex("#2ca02c"), Color.FromHex("#d62728"), Color.FromHex("#9467bd"),
        Color.FromHex("#8c564b"), Color.FromHex("#e377c2"), Color.FromHex("#7f7f7f"), Color.FromHex("#bcbd22"), Color.FromHex("#17becf"),
    ];

    /// <summary>Marker shapes, so that curves stay apart in grey print and for colour-blind readers.</summary>
    public static readonly MarkerShape[] Markers =
    [
        MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond,
        MarkerShape.OpenCircle, MarkerShape.OpenSquare, MarkerShape.FilledTriangleDown, MarkerShape.OpenDiamond,
    ];

    private static readonly Lock Gate = new();
    private static bool _fontChosen;

    /// <summary>Picks the font once: DejaVu Sans (Debian's fonts-dejavu-core) or Liberation Sans when installed, else ScottPlot's choice.</summary>
    public static void ChooseFont()
    {
        lock (Gate)
        {
            if (_fontChosen) return;
            foreach (var family in new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans" })
                if (SkiaSharp.SKFontManager.Default.MatchFamily(family) is { } typeface && typeface.FamilyName == family)
                {
                    Fonts.Default = family;
                    break;
                }
            _fontChosen = true;
        }
    }
}
