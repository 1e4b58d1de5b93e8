namespace Slim.Compression.Pruning;

/// <summary>What <see cref="Pruner.Apply"/> changed: per-layer channels before/after and the new conv widths.</summary>
public sealed record PruningReport(IReadOnlyList<LayerChange> Layers, ChannelCounts OutChannels, double MacsBefore, double MacsAfter);
