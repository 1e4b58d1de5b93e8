using Slim.Torch;

namespace Slim.Data;

/// <summary>A batch for classifier training and evaluation.</summary>
public sealed class ClassificationBatch : IImageBatch
{
    /// <summary>[N, C, H, W] float32 images.</summary>
    public required Tensor Images { get; init; }

    /// <summary>[N] int64 class labels.</summary>
    public required Tensor Labels { get; init; }

    /// <summary>Dataset indices of the images, in batch order.</summary>
    public required IReadOnlyList<int> Indices { get; init; }

    /// <summary>Images in the batch.</summary>
    public int Count => Indices.Count;

    /// <inheritdoc/>
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
