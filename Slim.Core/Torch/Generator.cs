namespace Slim.Torch;

/// <summary>A seeded CPU random generator (torch.Generator), for reproducible sampling.</summary>
public sealed class Generator : IDisposable
{
    private IntPtr _handle;

    /// <summary>The native generator; a disposed generator is an error rather than silently None.</summary>
    internal IntPtr Handle => _handle != IntPtr.Zero ? _handle : throw new ObjectDisposedException("Generator", "the generator was disposed");

    public Generator(long seed)
    {
        _handle = NativeMethods.Check(NativeMethods.slim_generator_new(seed));
        Seed = seed;
    }

    public long Seed { get; }

    public void Dispose()
    {
        if (_handle != IntPtr.Zero) NativeMethods.slim_generator_dispose(_handle);
        _handle = IntPtr.Zero;
        GC.SuppressFinalize(this);
    }

    ~Generator() { if (_handle != IntPtr.Zero) NativeMethods.slim_generator_dispose(_handle); }
}
