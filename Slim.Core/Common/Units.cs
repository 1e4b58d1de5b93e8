using System.Globalization;

namespace Slim;

/// <summary>
/// The one way a person reads an accuracy figure (AP, mAP, top-1, mIoU): percent with two decimals and a "%"; a
/// difference of two such figures in percentage points ("pts"). Files for machines (json) keep fractions 0-1.
/// </summary>
public static class Units
{
    /// <summary>A fraction as a percent: 0.2579 → "25.79 %".</summary>
    public static string Pct(double fraction) => (fraction * 100).ToString("F2", CultureInfo.InvariantCulture) + " %";

    /// <summary>A fraction as a bare percent number for table cells whose header says "(%)": 0.2579 → "25.79".</summary>
    /// <summary>
    /// GFLOPs with three decimals, or with three significant digits below 0.1 so that a small model's figure does not
    /// print as 0.000: 0.000652 → "0.000652", 12.3456 → "12.346".
    /// </summary>
    public static string GflopsNumber(double gflops)
    {
        if (gflops == 0 || !double.IsFinite(gflops) || Math.Abs(gflops) >= 0.1) return gflops.ToString("F3", CultureInfo.InvariantCulture);
        int decimals = Math.Min(12, 2 - (int)Math.Floor(Math.Log10(Math.Abs(gflops))));
        return gflops.ToString("F" + decimals, CultureInfo.InvariantCulture);
    }

    public static string PctNumber(double fraction) => (fraction * 100).ToString("F2", CultureInfo.InvariantCulture);

    /// <summary>A difference of two fractions in percentage points: 0.0104 → "1.04 pts"; signed adds "+" to gains.</summary>
    public static string Pts(double fraction, bool signed = false) =>
        (fraction * 100).ToString(signed ? "+0.00;-0.00;0.00" : "F2", CultureInfo.InvariantCulture) + " pts";

    /// <summary>
    /// Reads a fraction given as "0.125" or as a percent "12.5%" (a space before % allowed); null when it is neither.
    /// </summary>
    public static double? ParseFraction(string text)
    {
        var s = text.Trim();
        bool percent = s.EndsWith('%');
        if (percent) s = s[..^1].TrimEnd();
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v)) return null;
        return percent ? v / 100 : v;
    }
}
