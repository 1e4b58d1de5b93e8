using Slim.Torch;

namespace Slim.Core.Tests.Distillation;

/// <summary>A batch of input images for the trainer.</summary>
internal sealed class Batch(Tensor x) : IDisposable
{
    public Tensor X { get; } = x;
    public void Dispose() => X.Dispose();
}
