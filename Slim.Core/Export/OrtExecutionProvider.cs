namespace Slim.Export;

/// <summary>Where ONNX Runtime runs a model.</summary>
public enum OrtExecutionProvider
{
    /// <summary>The CPU provider, in every build of ONNX Runtime.</summary>
    Cpu,
    /// <summary>NVIDIA GPUs; needs a GPU build of ONNX Runtime (the Microsoft.ML.OnnxRuntime.Gpu package) and CUDA.</summary>
    Cuda,
}
