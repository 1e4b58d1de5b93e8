using Slim.Torch;

namespace Slim.Data;

/// <summary>What every task's batch has: the images as one [N, C, H, W] tensor. Disposing releases its tensors.</summary>
public interface IImageBatch : IDisposable
{
    /// <summary>The normalized images, [N, C, H, W].</summary>
    Tensor Images { get; }

    /// <summary>N.</summary>
    int Count { get; }
}
