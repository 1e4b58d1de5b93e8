namespace Slim.Export;

/// <summary>
/// How <see cref="OrtRunner"/> builds its ONNX Runtime sessions. Threads are given per call (they differ
/// between evaluation and latency runs); everything else is fixed for the runner.
/// </summary>
public sealed record OrtRunnerOptions
{
    /// <summary>The defaults: CPU provider, every graph optimization.</summary>
    public static OrtRunnerOptions Default { get; } = new();

    /// <summary>Graph optimization level; <see cref="OrtOptimizationLevel.All"/> (ONNX Runtime's default) unless set.</summary>
    public OrtOptimizationLevel Optimization { get; init; } = OrtOptimizationLevel.All;

    /// <summary>The execution provider; <see cref="OrtExecutionProvider.Cpu"/> unless set.</summary>
    public OrtExecutionProvider ExecutionProvider { get; init; } = OrtExecutionProvider.Cpu;

    /// <summary>The GPU index for <see cref="OrtExecutionProvider.Cuda"/>; ignored on the CPU.</summary>
    public int DeviceId { get; init; }

    /// <summary>The names <see cref="ParseExecutionProvider"/> accepts, in order.</summary>
    public static IReadOnlyList<string> ExecutionProviderNames { get; } =
        Enum.GetNames<OrtExecutionProvider>().Select(n => n.ToLowerInvariant()).ToArray();

    /// <summary>The provider named <paramref name="name"/> ("cpu" or "cuda", any case); throws <see cref="OrtException"/> listing the valid names otherwise.</summary>
    public static OrtExecutionProvider ParseExecutionProvider(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var trimmed = name.Trim();
        // Enum.TryParse alone would also accept numbers ("1"), which name nothing.
        if (trimmed.Length > 0 && char.IsLetter(trimmed[0]) && Enum.TryParse<OrtExecutionProvider>(trimmed, ignoreCase: true, out var p)) return p;
        throw new OrtException($"unknown ONNX Runtime execution provider '{name}'; expected one of: {string.Join(", ", ExecutionProviderNames)}");
    }

    /// <summary>The level named <paramref name="name"/> ("disabled", "basic", "extended" or "all", any case); throws <see cref="OrtException"/> listing the valid names otherwise.</summary>
    public static OrtOptimizationLevel ParseOptimization(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var trimmed = name.Trim();
        if (trimmed.Length > 0 && char.IsLetter(trimmed[0]) && Enum.TryParse<OrtOptimizationLevel>(trimmed, ignoreCase: true, out var o)) return o;
        throw new OrtException($"unknown ONNX Runtime optimization level '{name}'; expected one of: " +
            string.Join(", ", Enum.GetNames<OrtOptimizationLevel>().Select(n => n.ToLowerInvariant())));
    }
}
