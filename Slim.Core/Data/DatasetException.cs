namespace Slim.Data;

/// <summary>A dataset file (annotation json/xml, image list, idx file) is missing or malformed; the message names it.</summary>
public sealed class DatasetException : SlimException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public DatasetException(string? path, string message, Exception? inner = null) : base(message, inner) => Path = path;

    /// <summary>The file the error is about, when known.</summary>
    public string? Path { get; }
}
