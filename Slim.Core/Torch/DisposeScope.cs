namespace Slim.Torch;

/// <summary>
/// Collects every tensor created on this thread while it is the innermost scope and
/// disposes them when the scope ends, except those moved out
/// (<see cref="Tensor.MoveToOuterDisposeScope"/>) or detached from it
/// (<see cref="Tensor.DetachFromDisposeScope"/>). This is what keeps a training loop's
/// native memory flat without relying on the garbage collector.
/// </summary>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic] private static DisposeScope? _current;
    private readonly HashSet<Tensor> _tensors = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;

    internal DisposeScope()
    {
        Outer = _current;
        _current = this;
    }

    internal static DisposeScope? Current => _current;
    internal DisposeScope? Outer { get; }

    internal void Register(Tensor t) => _tensors.Add(t);
    internal bool Remove(Tensor t) => _tensors.Remove(t);

    /// <summary>Number of tensors the scope will dispose.</summary>
    public int Count => _tensors.Count;

    /// <summary>Moves the given tensors to the enclosing scope (or none) and returns the first.</summary>
    public Tensor MoveToOuter(Tensor tensor)
    {
        tensor.MoveToOuterDisposeScope();
        return tensor;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // Scopes nest strictly; a scope disposed out of order still leaves the chain valid.
        if (_current == this) _current = Outer;
        foreach (var t in _tensors) t.DisposeWithoutScope();
        _tensors.Clear();
    }
}
