namespace Slim.Data;

/// <summary>Resampling method of <see cref="Image.Resize"/>; values are OpenCV's INTER_* codes.</summary>
public enum Interpolation
{
    /// <summary>Nearest neighbour.</summary>
    Nearest = 0,
    /// <summary>Bilinear.</summary>
    Linear = 1,
    /// <summary>Bicubic.</summary>
    Cubic = 2,
    /// <summary>Pixel-area averaging (best for shrinking).</summary>
    Area = 3,
}

/// <summary>An RGB colour.</summary>
public readonly record struct Rgb(byte R, byte G, byte B);
