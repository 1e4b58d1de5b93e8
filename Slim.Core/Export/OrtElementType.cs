namespace Slim.Export;

/// <summary>Element types exchanged with ONNX Runtime; the names are those of its tensor types.</summary>
public enum OrtElementType
{
    Float32,
    Float64,
    Int64,
    Int32,
    Int8,
    UInt8,
    Bool,
}
