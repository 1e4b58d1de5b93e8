namespace Slim.Export;

/// <summary>ONNX Runtime failed to load or run a model; the message names the file and carries ONNX Runtime's first error line.</summary>
public class OrtException(string message) : SlimException(message);

/// <summary>ONNX Runtime's native library could not be loaded, or it lacks the execution provider asked for.</summary>
public sealed class OrtUnavailableException(string message) : OrtException(message);
