namespace Slim.Export;

/// <summary>ONNX Runtime failed to load or run a model; the message carries its first error line.</summary>
public class OrtException(string message) : SlimException(message);

/// <summary>Node.js or the ONNX Runtime package is not installed where Slim looks for it.</summary>
public sealed class OrtUnavailableException(string message) : OrtException(message);
