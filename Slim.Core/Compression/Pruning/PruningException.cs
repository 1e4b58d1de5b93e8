namespace Slim.Compression.Pruning;

/// <summary>
/// A pruning request that cannot be carried out: an unknown parameter or criterion, a bad ratio
/// list, an unprunable channel group. Raised before any weight is touched.
/// </summary>
public sealed class PruningException(string message) : SlimException(message);
