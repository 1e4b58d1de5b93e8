namespace Slim.Detection;

/// <summary>A COCO annotations or results file is malformed or does not fit the annotations it is read against.</summary>
public sealed class CocoFormatException : SlimException
{
    /// <summary>Creates the exception; the message names the file and what was wrong.</summary>
    public CocoFormatException(string message, Exception? inner = null) : base(message, inner) { }
}
