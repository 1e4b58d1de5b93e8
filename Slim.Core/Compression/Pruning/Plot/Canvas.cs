namespace Slim.Compression.Pruning.Plot;

/// <summary>An RGB raster with the few primitives a line chart needs: rectangles, lines, markers and text.</summary>
public sealed class Canvas
{
    private readonly byte[] _rgb;

    public Canvas(int width, int height, (byte r, byte g, byte b) background)
    {
        Width = width;
        Height = height;
        _rgb = new byte[width * height * 3];
        FillRect(0, 0, width, height, background);
    }

    public int Width { get; }
    public int Height { get; }

    public (byte r, byte g, byte b) GetPixel(int x, int y) => (_rgb[(y * Width + x) * 3], _rgb[(y * Width + x) * 3 + 1], _rgb[(y * Width + x) * 3 + 2]);

    public void SetPixel(int x, int y, (byte r, byte g, byte b) c)
    {
        if (x < 0 || y < 0 || x >= Width || y >= Height) return;
        int i = (y * Width + x) * 3;
        (_rgb[i], _rgb[i + 1], _rgb[i + 2]) = c;
    }

    public void FillRect(int x, int y, int w, int h, (byte r, byte g, byte b) c)
    {
        for (int j = y; j < y + h; j++)
            for (int i = x; i < x + w; i++) SetPixel(i, j, c);
    }

    /// <summary>A line of the given thickness (Bresenham, with a square pen).</summary>
    public void Line(int x0, int y0, int x1, int y1, (byte r, byte g, byte b) c, int thickness = 1)
    {
        int dx = Math.Abs(x1 - x0), dy = -Math.Abs(y1 - y0);
        int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
        int lo = -(thickness - 1) / 2;
        while (true)
        {
            FillRect(x0 + lo, y0 + lo, thickness, thickness, c);
            if (x0 == x1 && y0 == y1) break;
            int e2 = 2 * err;
            if (e2 >= dy) { err += dy; x0 += sx; }
            if (e2 <= dx) { err += dx; y0 += sy; }
        }
    }

    /// <summary>Draws text with the built-in 5x7 font, top-left at (x, y), each font pixel scale×scale.</summary>
    public void Text(int x, int y, string text, (byte r, byte g, byte b) c, int scale = 1)
    {
        foreach (var ch in text)
        {
            var glyph = BitmapFont.Glyph(ch);
            for (int row = 0; row < BitmapFont.Height; row++)
                for (int col = 0; col < BitmapFont.Width; col++)
                    if (glyph[row * BitmapFont.Width + col] == '#') FillRect(x + col * scale, y + row * scale, scale, scale, c);
            x += BitmapFont.Advance * scale;
        }
    }

    /// <summary>Text drawn bottom-to-top (for a y-axis label), top-left of the rotated box at (x, y).</summary>
    public void TextVertical(int x, int y, string text, (byte r, byte g, byte b) c, int scale = 1)
    {
        int len = text.Length * BitmapFont.Advance * scale;
        for (int k = 0; k < text.Length; k++)
        {
            var glyph = BitmapFont.Glyph(text[k]);
            int baseY = y + len - k * BitmapFont.Advance * scale;
            for (int row = 0; row < BitmapFont.Height; row++)
                for (int col = 0; col < BitmapFont.Width; col++)
                    if (glyph[row * BitmapFont.Width + col] == '#') FillRect(x + row * scale, baseY - (col + 1) * scale, scale, scale, c);
        }
    }

    public static int TextWidth(string text, int scale = 1) => text.Length * BitmapFont.Advance * scale;

    public byte[] ToPng() => PngEncoder.Encode(Width, Height, _rgb);
}
