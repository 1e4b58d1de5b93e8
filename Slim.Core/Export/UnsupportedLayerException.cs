namespace Slim.Export;

/// <summary>
/// A traced operator (or a form of it) that the ONNX exporter cannot express. The message names the
/// operator, the module path it ran in, and what would be accepted instead.
/// </summary>
public sealed class UnsupportedLayerException : SlimException
{
    public UnsupportedLayerException(string op, string modulePath, string detail)
        : base($"ONNX export: unsupported operator '{op}' in module '{(modulePath.Length == 0 ? "<root>" : modulePath)}': {detail}")
    {
        Op = op;
        ModulePath = modulePath;
    }

    /// <summary>The ATen operator name ("aten::grid_sampler").</summary>
    public string Op { get; }

    /// <summary>Dotted path of the module the operator ran in ("" for the root).</summary>
    public string ModulePath { get; }
}
