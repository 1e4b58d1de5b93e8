using Slim.Torch;

namespace Slim.Data;

/// <summary>
/// An 8-bit image in managed memory: rows of interleaved pixels (HWC), RGB for colour images,
/// one channel for grayscale. Decoding, encoding, resizing and drawing go through OpenCV in
/// libslimnative; everything else (crops, flips, colour jitter) is plain C# over <see cref="Pixels"/>.
/// </summary>
public sealed class Image
{
    // OpenCV codes: BGR<->RGB is its own inverse.
    private const int ColorBgr2Rgb = 4;
    private const int ReadColor = 1, ReadGray = 0;

    /// <summary>Creates a black image.</summary>
    public Image(int width, int height, int channels = 3)
        : this(width, height, channels, new byte[CheckedSize(width, height, channels)]) { }

    /// <summary>Wraps <paramref name="pixels"/> (not copied); its length must be width*height*channels.</summary>
    public Image(int width, int height, int channels, byte[] pixels)
    {
        var n = CheckedSize(width, height, channels);
        if (pixels.Length != n)
            throw new ArgumentException($"pixels has {pixels.Length} bytes, a {width}x{height}x{channels} image needs {n}", nameof(pixels));
        Width = width;
        Height = height;
        Channels = channels;
        Pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>1 (grayscale) or 3 (RGB).</summary>
    public int Channels { get; }
    /// <summary>The pixels, row-major, channels interleaved.</summary>
    public byte[] Pixels { get; }

    /// <summary>Pixel component at row y, column x, channel c.</summary>
    public byte this[int y, int x, int c = 0]
    {
        get => Pixels[(y * Width + x) * Channels + c];
        set => Pixels[(y * Width + x) * Channels + c] = value;
    }

    private static int CheckedSize(int width, int height, int channels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size must be positive, got {width}x{height}");
        if (channels is not (1 or 3)) throw new ArgumentException($"channels must be 1 or 3, got {channels}", nameof(channels));
        return checked(width * height * channels);
    }

    /// <summary>
    /// Sets how many threads OpenCV's own parallel loops use and returns the previous count. The data
    /// loaders parallelize over images, so nested OpenCV threads only add contention: they set 1.
    /// </summary>
    public static int SetOpenCvThreads(int threads) => NativeMethods.Check(NativeMethods.slim_image_set_num_threads(threads));

    /// <summary>Reads and decodes an image file (JPEG, PNG, BMP, ...) as RGB, or grayscale when asked.</summary>
    /// <exception cref="ImageException">The file is missing, unreadable or not a decodable image.</exception>
    public static Image Load(string path, bool grayscale = false)
    {
        if (!File.Exists(path))
            throw new ImageException(path, $"Image file '{path}' does not exist.");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageException(path, $"Image file '{path}' cannot be read: {e.Message}", e);
        }
        return Decode(bytes, path, grayscale);
    }

    /// <summary>
    /// The width and height decoding <paramref name="path"/> would give, read from the file's header (SkiaSharp's codec,
    /// no pixels decoded). A format the codec does not read, or an EXIF rotation, is decoded in full instead, so the
    /// answer is always what <see cref="Load"/> returns.
    /// </summary>
    /// <exception cref="ImageException">The file is missing, unreadable or not an image.</exception>
    public static (int Width, int Height) ReadSize(string path)
    {
        if (!File.Exists(path))
            throw new ImageException(path, $"Image file '{path}' does not exist.");
        try
        {
            using var codec = SkiaSharp.SKCodec.Create(path);
            if (codec is not null && codec.EncodedOrigin == SkiaSharp.SKEncodedOrigin.TopLeft && codec.Info.Width > 0 && codec.Info.Height > 0)
                return (codec.Info.Width, codec.Info.Height);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            // No usable Skia here: decoding gives the size too, only slower.
        }
        var image = Load(path);
        return (image.Width, image.Height);
    }

    /// <summary>Decodes an encoded image; <paramref name="sourceName"/> names it in error messages.</summary>
    /// <exception cref="ImageException">The bytes are not a decodable image.</exception>
    public static unsafe Image Decode(ReadOnlySpan<byte> bytes, string? sourceName = null, bool grayscale = false)
    {
        var what = sourceName is null ? "Image data" : $"Image file '{sourceName}'";
        if (bytes.Length == 0) throw new ImageException(sourceName, $"{what} is empty.");
        IntPtr h;
        fixed (byte* p = bytes) h = NativeMethods.slim_image_decode(p, bytes.Length, grayscale ? ReadGray : ReadColor);
        if (h == IntPtr.Zero)
            throw new ImageException(sourceName, $"{what} is corrupt or not an image format OpenCV can decode ({bytes.Length} bytes).");
        using var bgr = NativeImage.Wrap(h);
        if (grayscale) return FromNative(bgr);
        using var rgb = NativeImage.Wrap(NativeMethods.slim_image_cvt_color(bgr.Ptr, ColorBgr2Rgb));
        return FromNative(rgb);
    }

    private static Image FromNative(NativeImage img)
    {
        var (w, h, c, px) = img.ToPixels();
        return new Image(w, h, c, px);
    }

    // OpenCV works in BGR; hand it BGR so that encoders and drawing see the true colours.
    private NativeImage ToNativeBgr()
    {
        var img = NativeImage.FromPixels(Pixels, Width, Height, Channels);
        if (Channels == 1) return img;
        using (img) return NativeImage.Wrap(NativeMethods.slim_image_cvt_color(img.Ptr, ColorBgr2Rgb));
    }

    private void CopyFromNativeBgr(NativeImage bgr)
    {
        if (Channels == 1)
        {
            var (_, _, _, px) = bgr.ToPixels();
            px.CopyTo(Pixels, 0);
            return;
        }
        using var rgb = NativeImage.Wrap(NativeMethods.slim_image_cvt_color(bgr.Ptr, ColorBgr2Rgb));
        rgb.ToPixels().Pixels.CopyTo(Pixels, 0);
    }

    /// <summary>
    /// Encodes as JPEG (<paramref name="extension"/> ".jpg"/".jpeg", <paramref name="quality"/> 0-100) or as PNG
    /// (".png"; lossless, <paramref name="quality"/> is then the zlib level 0-9, values outside that range use 3).
    /// </summary>
    public byte[] Encode(string extension = ".jpg", int quality = 95)
    {
        var ext = extension.ToLowerInvariant();
        if (ext is not (".jpg" or ".jpeg" or ".png"))
            throw new ArgumentException($"unsupported image format '{extension}'; use .jpg, .jpeg or .png", nameof(extension));
        if (ext == ".png") quality = quality is >= 0 and <= 9 ? quality : 3;
        else if (quality is < 0 or > 100) throw new ArgumentOutOfRangeException(nameof(quality), quality, "JPEG quality must be 0-100");
        using var bgr = ToNativeBgr();
        return NativeImage.TakeBuffer(NativeMethods.slim_image_encode(bgr.Ptr, ext, quality));
    }

    /// <summary>
    /// Writes the image to <paramref name="path"/> in the format its extension names (.jpg/.jpeg/.png),
    /// atomically: a temporary file in the same folder is renamed over the target.
    /// </summary>
    public void Save(string path, int quality = 95)
    {
        AtomicFile.WriteAllBytes(path, Encode(System.IO.Path.GetExtension(path), quality));
    }

    /// <summary>A resized copy.</summary>
    public Image Resize(int width, int height, Interpolation interpolation = Interpolation.Linear)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"resize target must be positive, got {width}x{height}");
        if (width == Width && height == Height) return Clone();
        // Resizing is channel-order agnostic, so the pixels go to OpenCV as they are.
        using var src = NativeImage.FromPixels(Pixels, Width, Height, Channels);
        using var dst = NativeImage.Wrap(NativeMethods.slim_image_resize(src.Ptr, width, height, (int)interpolation));
        return FromNative(dst);
    }

    /// <summary>A deep copy.</summary>
    public Image Clone() => new(Width, Height, Channels, (byte[])Pixels.Clone());

    /// <summary>A 3-channel copy (gray replicated), or a copy of this one when already RGB.</summary>
    public Image ToRgb()
    {
        if (Channels == 3) return Clone();
        var px = new byte[Width * Height * 3];
        for (int i = 0; i < Width * Height; i++) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = Pixels[i];
        return new Image(Width, Height, 3, px);
    }

    /// <summary>Draws a rectangle outline in place (corners in pixels, inclusive).</summary>
    public void DrawBox(float x1, float y1, float x2, float y2, Rgb color, int thickness = 2)
    {
        using var bgr = ToNativeBgr();
        // Colour components are in the native image's order: B, G, R.
        NativeMethods.Check(NativeMethods.slim_image_rectangle(bgr.Ptr, (int)MathF.Round(x1), (int)MathF.Round(y1),
            (int)MathF.Round(x2), (int)MathF.Round(y2), color.B, color.G, color.R, thickness));
        CopyFromNativeBgr(bgr);
    }

    /// <summary>The size of <paramref name="text"/> as <see cref="DrawText"/> writes it: width, height above the baseline, and the depth below it.</summary>
    public static (int Width, int Height, int Baseline) TextSize(string text, double scale = 0.4, int thickness = 1)
    {
        NativeMethods.Check(NativeMethods.slim_image_text_size(text, scale, thickness, out var tw, out var th, out var baseline));
        return (tw, th, baseline);
    }

    /// <summary>
    /// Writes <paramref name="text"/> in place with its bottom-left corner at (x, y), optionally on a
    /// filled background box (the usual label above a detection box).
    /// </summary>
    public void DrawText(string text, int x, int y, Rgb color, double scale = 0.4, int thickness = 1, Rgb? background = null)
    {
        using var bgr = ToNativeBgr();
        if (background is { } bg)
        {
            NativeMethods.Check(NativeMethods.slim_image_text_size(text, scale, thickness, out var tw, out var th, out var baseline));
            NativeMethods.Check(NativeMethods.slim_image_rectangle(bgr.Ptr, x, y - th - 1, x + tw, y + baseline, bg.B, bg.G, bg.R, -1));
        }
        NativeMethods.Check(NativeMethods.slim_image_put_text(bgr.Ptr, text, x, y, scale, color.B, color.G, color.R, thickness));
        CopyFromNativeBgr(bgr);
    }

    /// <summary>
    /// The image as a float32 [C, H, W] tensor: pixel/255 when <paramref name="scaleTo01"/>, then
    /// (v - mean[c]) / std[c] when mean and std are given.
    /// </summary>
    public Tensor ToTensor(bool scaleTo01 = true, float[]? mean = null, float[]? std = null)
    {
        var data = new float[Pixels.Length];
        WriteChw(data, 0, scaleTo01, mean, std);
        return torch.tensor(data, Channels, Height, Width);
    }

    /// <summary>Writes the CHW float form of <see cref="ToTensor"/> into dst at offset (for batching without tensors).</summary>
    public void WriteChw(Span<float> dst, int offset, bool scaleTo01 = true, float[]? mean = null, float[]? std = null)
    {
        if ((mean is null) != (std is null)) throw new ArgumentException("give both mean and std, or neither");
        if (mean is not null && (mean.Length != Channels || std!.Length != Channels))
            throw new ArgumentException($"mean and std need {Channels} values each, got {mean.Length} and {std!.Length}");
        int plane = Width * Height;
        float s = scaleTo01 ? 1f / 255f : 1f;
        for (int c = 0; c < Channels; c++)
        {
            float m = mean?[c] ?? 0f, inv = 1f / (std?[c] ?? 1f);
            var outPlane = dst.Slice(offset + c * plane, plane);
            for (int i = 0, j = c; i < plane; i++, j += Channels)
                outPlane[i] = (Pixels[j] * s - m) * inv;
        }
    }
}
