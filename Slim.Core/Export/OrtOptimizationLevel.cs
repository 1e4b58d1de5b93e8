namespace Slim.Export;

/// <summary>How far ONNX Runtime rewrites a graph before running it (its GraphOptimizationLevel).</summary>
public enum OrtOptimizationLevel
{
    /// <summary>Runs the graph as written: no constant folding, no fusions.</summary>
    Disabled,
    /// <summary>Semantics-preserving rewrites only: constant folding, redundant node removal.</summary>
    Basic,
    /// <summary>Basic plus fusions (Conv+ReLU, QDQ → QLinearConv, …).</summary>
    Extended,
    /// <summary>Extended plus layout optimizations; ONNX Runtime's default, and Slim's.</summary>
    All,
}
