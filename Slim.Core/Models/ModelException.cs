namespace Slim.Models;

/// <summary>
/// A model could not be built as asked: an unknown architecture name, an invalid option, or a
/// channel override that does not fit the architecture. The message names the offending key.
/// </summary>
public sealed class ModelException(string message) : SlimException(message);
