namespace Slim.Compression.Pruning;

/// <summary>One pruned parameter (a conv weight) and the fraction of its channels to remove.</summary>
public sealed record PruneTarget(string Parameter, double Ratio);
