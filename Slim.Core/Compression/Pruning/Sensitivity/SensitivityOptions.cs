namespace Slim.Compression.Pruning.Sensitivity;

/// <summary>What a sensitivity analysis measures and where it keeps its results.</summary>
public sealed record SensitivityOptions
{
    /// <summary>Conv weights to analyse, each pruned alone.</summary>
    public required IReadOnlyList<string> Parameters { get; init; }

    /// <summary>JSON file the results are saved to after every point (and resumed from).</summary>
    public required string ResultPath { get; init; }

    /// <summary>Ratios to try for every parameter (default 0.1, 0.2, …, 0.9).</summary>
    public IReadOnlyList<double> Ratios { get; init; } = Enumerable.Range(1, 9).Select(i => i / 10.0).ToList();

    /// <summary>The channel importance criterion (a name from the registry).</summary>
    public string Criterion { get; init; } = "l1_norm";

    /// <summary>
    /// Several processes share the points (null: one process): rank 0's result file is the one resumed and kept, each
    /// round every rank measures one of the missing points, and all ranks collect every round's points in order, so
    /// the file is the one a single process would write.
    /// </summary>
    public Slim.Torch.ProcessGroup? Group { get; init; }
}
