namespace Slim.Torch;

/// <summary>Kinds of device; the values are c10::DeviceType's.</summary>
public enum DeviceType
{
    CPU = 0,
    CUDA = 1,
}

/// <summary>A device a tensor lives on: "cpu", "cuda" or "cuda:N".</summary>
public sealed record Device(DeviceType type, int index = -1)
{
    public static readonly Device CPU = new(DeviceType.CPU);

    /// <summary>Parses "cpu", "cuda", "cuda:1"; anything else is a clear error.</summary>
    public static Device Parse(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        var colon = t.IndexOf(':');
        var kind = colon < 0 ? t : t[..colon];
        int index = -1;
        if (colon >= 0 && !int.TryParse(t[(colon + 1)..], out index))
            throw new TorchException($"unknown device '{text}': expected cpu, cuda or cuda:N");
        return kind switch
        {
            "cpu" => CPU,
            "cuda" => new Device(DeviceType.CUDA, index),
            _ => throw new TorchException($"unknown device '{text}': expected cpu, cuda or cuda:N"),
        };
    }

    public override string ToString() =>
        type == DeviceType.CPU ? "cpu" : index < 0 ? "cuda" : $"cuda:{index}";

    public static implicit operator Device(string s) => Parse(s);
}
