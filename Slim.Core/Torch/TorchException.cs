namespace Slim.Torch;

/// <summary>An error raised by libtorch (or the native shim), carrying libtorch's message.</summary>
public sealed class TorchException : Exception
{
    public TorchException(string message) : base(FirstLine(message)) => NativeMessage = message;

    /// <summary>The full native message (libtorch's can run to several lines).</summary>
    public string NativeMessage { get; }

    // libtorch appends source locations and notes on later lines; the first is the error.
    private static string FirstLine(string m)
    {
        var trimmed = m.Trim();
        int nl = trimmed.IndexOf('\n');
        return nl < 0 ? trimmed : trimmed[..nl].TrimEnd();
    }
}
