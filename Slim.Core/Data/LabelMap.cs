using System.Buffers.Binary;

namespace Slim.Data;

/// <summary>
/// A per-pixel class map read from a PNG: 8-bit grayscale (Cityscapes' <c>*_labelTrainIds.png</c>, PaddleSeg's label
/// files), where each value is the class, or indexed (palette) PNG, where each pixel's palette index is the class
/// (PaddleSeg's pseudo-colour predictions). Colour PNGs are refused: their colours are not class ids.
/// </summary>
public sealed class LabelMap
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private LabelMap(int width, int height, byte[] labels) => (Width, Height, Labels) = (width, height, labels);

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The class of each pixel, row-major.</summary>
    public byte[] Labels { get; }

    /// <summary>Reads a label PNG.</summary>
    /// <exception cref="ImageException">Missing, not a PNG, of another kind than 8-bit gray or indexed, or damaged.</exception>
    public static LabelMap Load(string path)
    {
        if (!File.Exists(path)) throw new ImageException(path, $"label map '{path}' does not exist");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 33 || !bytes.AsSpan(0, 8).SequenceEqual(Signature) || !bytes.AsSpan(12, 4).SequenceEqual("IHDR"u8))
            throw new ImageException(path, $"label map '{path}' is not a PNG; label maps are lossless PNGs whose pixel values (or palette indices) are the classes");
        int depth = bytes[24], colorType = bytes[25];
        switch (colorType)
        {
            case 0 when depth == 8:
            {
                var image = Image.Decode(bytes, path, grayscale: true);
                return new LabelMap(image.Width, image.Height, image.Pixels);
            }
            case 3:
            {
                // Decoders expand the palette to colours; each colour maps back to its (first) index.
                var palette = Palette(bytes, path);
                var image = Image.Decode(bytes, path);
                var index = new Dictionary<int, byte>();
                for (int i = palette.Count - 1; i >= 0; i--) index[palette[i]] = (byte)i;
                var labels = new byte[image.Width * image.Height];
                for (int p = 0; p < labels.Length; p++)
                {
                    int rgb = image.Pixels[3 * p] << 16 | image.Pixels[3 * p + 1] << 8 | image.Pixels[3 * p + 2];
                    labels[p] = index.TryGetValue(rgb, out var k) ? k
                        : throw new ImageException(path, $"label map '{path}': pixel {p} decodes to a colour its palette does not hold");
                }
                return new LabelMap(image.Width, image.Height, labels);
            }
            default:
                var kind = colorType switch { 0 => $"{depth}-bit grayscale", 2 => "RGB", 4 => "grayscale with alpha", 6 => "RGBA", _ => $"colour type {colorType}" };
                throw new ImageException(path, $"label map '{path}' is a {kind} PNG; label maps are 8-bit grayscale (value = class) or indexed (palette index = class)");
        }
    }

    // The PLTE chunk's colours as 0xRRGGBB.
    private static List<int> Palette(byte[] png, string path)
    {
        for (int at = 8; at + 8 <= png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            var type = png.AsSpan(at + 4, 4);
            if (length < 0 || at + 12 + (long)length > png.Length) break;
            if (type.SequenceEqual("PLTE"u8))
            {
                var colours = new List<int>(length / 3);
                for (int i = 0; i + 2 < length; i += 3)
                    colours.Add(png[at + 8 + i] << 16 | png[at + 9 + i] << 8 | png[at + 10 + i]);
                return colours;
            }
            if (type.SequenceEqual("IDAT"u8)) break;
            at += 12 + length;
        }
        throw new ImageException(path, $"label map '{path}' is an indexed PNG without a palette (PLTE) before its image data: damaged");
    }
}
