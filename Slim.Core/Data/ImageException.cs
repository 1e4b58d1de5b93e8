namespace Slim.Data;

/// <summary>An image file is missing, unreadable or not a decodable image; the message names the file.</summary>
public sealed class ImageException : SlimException
{
    /// <summary>Creates the exception for <paramref name="path"/> (may be null when decoding bytes of unknown origin).</summary>
    public ImageException(string? path, string message, Exception? inner = null) : base(message, inner) => Path = path;

    /// <summary>The file the error is about, when known.</summary>
    public string? Path { get; }
}
