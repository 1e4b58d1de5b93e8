namespace Slim.Torch;

/// <summary>A seeded CPU random generator (torch.Generator), for reproducible sampling.</summary>
public sealed class Generator : IDisposable
{
    internal IntPtr Handle { get; private set; }

    public Generator(long seed)
    {
        Handle = NativeMethods.Check(NativeMethods.slim_generator_new(seed));
        Seed = seed;
    }

    public long Seed { get; }

    public void Dispose()
    {
        if (Handle != IntPtr.Zero) NativeMethods.slim_generator_dispose(Handle);
        Handle = IntPtr.Zero;
        GC.SuppressFinalize(this);
    }

    ~Generator() { if (Handle != IntPtr.Zero) NativeMethods.slim_generator_dispose(Handle); }
}
