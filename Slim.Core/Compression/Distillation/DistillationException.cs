namespace Slim.Compression.Distillation;

/// <summary>A distillation set-up that cannot work: a missing module path, feature maps that do not pair up, a wrong call order.</summary>
public sealed class DistillationException(string message) : SlimException(message);
