using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Slim.Export;

/// <summary>
/// The tensor container tools/ort/run.js reads and writes: "SLIMTNS1", a little-endian uint32 header
/// length, a JSON header {"runs":[[{"name","dtype","shape"}, …], …]}, then every tensor's raw
/// little-endian elements, run by run, in header order.
/// </summary>
internal static class OrtTensorFile
{
    private const string Magic = "SLIMTNS1";

    public static void Write(string path, IReadOnlyList<IReadOnlyDictionary<string, OrtTensor>> runs)
    {
        var header = new JsonObject
        {
            ["runs"] = new JsonArray(runs.Select(run => (JsonNode)new JsonArray(run.Select(kv => (JsonNode)new JsonObject
            {
                ["name"] = kv.Key,
                ["dtype"] = DtypeName(kv.Value.ElementType),
                ["shape"] = new JsonArray(kv.Value.Shape.Select(d => (JsonNode)d).ToArray()),
            }).ToArray())).ToArray()),
        };
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        using var f = File.Create(path);
        f.Write(Encoding.ASCII.GetBytes(Magic));
        f.Write(BitConverter.GetBytes((uint)headerBytes.Length));
        f.Write(headerBytes);
        foreach (var run in runs)
            foreach (var t in run.Values) f.Write(Bytes(t));
    }

    public static List<Dictionary<string, OrtTensor>> Read(string path)
    {
        var buf = File.ReadAllBytes(path);
        if (buf.Length < 12 || Encoding.ASCII.GetString(buf, 0, 8) != Magic)
            throw new OrtException($"{path}: not a Slim tensor file (magic {Magic} missing)");
        int headerLength = (int)BitConverter.ToUInt32(buf, 8);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(buf, 12, headerLength))!;
        int offset = 12 + headerLength;
        var result = new List<Dictionary<string, OrtTensor>>();
        foreach (var run in header["runs"]!.AsArray())
        {
            var tensors = new Dictionary<string, OrtTensor>(StringComparer.Ordinal);
            foreach (var t in run!.AsArray())
            {
                var name = t!["name"]!.GetValue<string>();
                var dtype = t["dtype"]!.GetValue<string>();
                var shape = t["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                int count = checked((int)shape.Aggregate(1L, (a, b) => a * b));
                var span = buf.AsSpan(offset);
                Array data = dtype switch
                {
                    "float32" => MemoryMarshal.Cast<byte, float>(span)[..count].ToArray(),
                    "float64" => MemoryMarshal.Cast<byte, double>(span)[..count].ToArray(),
                    "int64" => MemoryMarshal.Cast<byte, long>(span)[..count].ToArray(),
                    "int32" => MemoryMarshal.Cast<byte, int>(span)[..count].ToArray(),
                    "int8" => MemoryMarshal.Cast<byte, sbyte>(span)[..count].ToArray(),
                    "uint8" => span[..count].ToArray(),
                    "bool" => span[..count].ToArray().Select(b => b != 0).ToArray(),
                    _ => throw new OrtException($"{path}: tensor '{name}' has unknown dtype '{dtype}'"),
                };
                offset += count * ElementSize(dtype);
                tensors[name] = new OrtTensor(data, shape);
            }
            result.Add(tensors);
        }
        return result;
    }

    private static string DtypeName(OrtElementType t) => t switch
    {
        OrtElementType.Float32 => "float32",
        OrtElementType.Float64 => "float64",
        OrtElementType.Int64 => "int64",
        OrtElementType.Int32 => "int32",
        OrtElementType.Int8 => "int8",
        OrtElementType.UInt8 => "uint8",
        OrtElementType.Bool => "bool",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    private static int ElementSize(string dtype) => dtype switch
    {
        "float64" or "int64" => 8,
        "float32" or "int32" => 4,
        _ => 1,
    };

    private static ReadOnlySpan<byte> Bytes(OrtTensor t) => t.ElementType switch
    {
        OrtElementType.Float32 => MemoryMarshal.AsBytes(((float[])t.Data).AsSpan()),
        OrtElementType.Float64 => MemoryMarshal.AsBytes(((double[])t.Data).AsSpan()),
        OrtElementType.Int64 => MemoryMarshal.AsBytes(((long[])t.Data).AsSpan()),
        OrtElementType.Int32 => MemoryMarshal.AsBytes(((int[])t.Data).AsSpan()),
        OrtElementType.Int8 => MemoryMarshal.AsBytes(((sbyte[])t.Data).AsSpan()),
        OrtElementType.UInt8 => (byte[])t.Data,
        _ => ((bool[])t.Data).Select(v => v ? (byte)1 : (byte)0).ToArray(),
    };
}
