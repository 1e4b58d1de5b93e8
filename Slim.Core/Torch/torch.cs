using System.Runtime.InteropServices;

namespace Slim.Torch;

/// <summary>The torch namespace: tensor creation, global state and functions, with PyTorch's names.</summary>
public static partial class torch
{
    private static AtenOp Op(string name) => AtenOp.Get(name);

    public const ScalarType float32 = ScalarType.Float32;
    public const ScalarType float64 = ScalarType.Float64;
    public const ScalarType int64 = ScalarType.Int64;
    public const ScalarType int32 = ScalarType.Int32;
    public const ScalarType uint8 = ScalarType.Byte;
    public const ScalarType int8 = ScalarType.Int8;
    public const ScalarType @bool = ScalarType.Bool;

    /// <summary>The libtorch version the native library was built against.</summary>
    public static string Version => Marshal.PtrToStringUTF8(NativeMethods.slim_torch_version()) ?? "?";

    public static DisposeScope NewDisposeScope() => new();

    public static void manual_seed(long seed) => NativeMethods.Check(NativeMethods.slim_manual_seed(seed));
    public static void set_num_threads(int n) => NativeMethods.Check(NativeMethods.slim_set_num_threads(n));
    public static int get_num_threads() => NativeMethods.slim_get_num_threads();

    /// <summary>Linear algebra (torch.linalg).</summary>
    public static class linalg
    {
        /// <summary>X with A·X = B for a square, invertible A [n, n] (or a batch of them) and B [n, k] or [n].</summary>
        public static Tensor solve(Tensor A, Tensor B) => Op("aten::linalg_solve").Tensor(A, B);
    }

    public static class cuda
    {
        public static bool is_available() => NativeMethods.slim_cuda_is_available() != 0;
        public static int device_count() => NativeMethods.slim_cuda_device_count();
    }

    /// <summary>Disables gradient recording until disposed (torch.no_grad()).</summary>
    public static IDisposable no_grad() => new GradMode(false);
    public static IDisposable enable_grad() => new GradMode(true);
    public static bool is_grad_enabled() => NativeMethods.slim_grad_is_enabled() != 0;

    private sealed class GradMode : IDisposable
    {
        private readonly int _prev;
        private bool _done;
        public GradMode(bool enabled) => _prev = NativeMethods.slim_grad_set_enabled(enabled ? 1 : 0);
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            NativeMethods.slim_grad_set_enabled(_prev);
        }
    }

    // ---- creation ----
    public static Tensor tensor(float[] data, params long[] shape) => Tensor.FromData<float>(data, Shape(shape, data.Length), ScalarType.Float32);
    public static Tensor tensor(double[] data, params long[] shape) => Tensor.FromData<double>(data, Shape(shape, data.Length), ScalarType.Float64);
    public static Tensor tensor(long[] data, params long[] shape) => Tensor.FromData<long>(data, Shape(shape, data.Length), ScalarType.Int64);
    public static Tensor tensor(int[] data, params long[] shape) => Tensor.FromData<int>(data, Shape(shape, data.Length), ScalarType.Int32);
    public static Tensor tensor(byte[] data, params long[] shape) => Tensor.FromData<byte>(data, Shape(shape, data.Length), ScalarType.Byte);
    public static Tensor tensor(sbyte[] data, params long[] shape) => Tensor.FromData<sbyte>(data, Shape(shape, data.Length), ScalarType.Int8);
    public static Tensor tensor(bool[] data, params long[] shape) => Tensor.FromData<bool>(data, Shape(shape, data.Length), ScalarType.Bool);
    public static Tensor tensor(ReadOnlySpan<float> data, long[] shape) => Tensor.FromData(data, shape, ScalarType.Float32);
    public static Tensor tensor(double value, ScalarType dtype = ScalarType.Float32) => full(Array.Empty<long>(), value, dtype);

    private static long[] Shape(long[] shape, int n) => shape.Length == 0 ? new long[] { n } : shape;

    public static Tensor empty(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        Op("aten::empty.memory_format").Tensor(shape, dtype, OpArg.None, device, OpArg.None, OpArg.None);
    public static Tensor zeros(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false) =>
        Op("aten::zeros").Tensor(shape, dtype, OpArg.None, device, OpArg.None).requires_grad_(requires_grad);
    public static Tensor zeros(params long[] shape) => zeros(shape, ScalarType.Float32);
    public static Tensor ones(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false) =>
        Op("aten::ones").Tensor(shape, dtype, OpArg.None, device, OpArg.None).requires_grad_(requires_grad);
    public static Tensor ones(params long[] shape) => ones(shape, ScalarType.Float32);
    public static Tensor full(long[] shape, double value, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        Op("aten::full").Tensor(shape, value, dtype, OpArg.None, device, OpArg.None);
    public static Tensor zeros_like(Tensor t) => Op("aten::zeros_like").Tensor(t);
    public static Tensor ones_like(Tensor t) => Op("aten::ones_like").Tensor(t);
    public static Tensor full_like(Tensor t, double value) => Op("aten::full_like").Tensor(t, value);
    public static Tensor eye(long n, ScalarType dtype = ScalarType.Float32) => Op("aten::eye").Tensor(n, dtype);
    public static Tensor arange(double end, ScalarType dtype = ScalarType.Int64, Device? device = null) =>
        Op("aten::arange").Tensor(end, dtype, OpArg.None, device, OpArg.None);
    public static Tensor arange(double start, double end, double step = 1, ScalarType dtype = ScalarType.Int64, Device? device = null) =>
        Op("aten::arange.start_step").Tensor(start, end, step, dtype, OpArg.None, device, OpArg.None);
    public static Tensor linspace(double start, double end, long steps, ScalarType dtype = ScalarType.Float32) =>
        Op("aten::linspace").Tensor(start, end, steps, dtype);
    public static Tensor randn(long[] shape, Generator? generator = null, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        Op("aten::randn.generator").Tensor(shape, generator, dtype, OpArg.None, device, OpArg.None);
    public static Tensor randn(params long[] shape) => randn(shape, null);
    public static Tensor rand(long[] shape, Generator? generator = null, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        Op("aten::rand.generator").Tensor(shape, generator, dtype, OpArg.None, device, OpArg.None);
    public static Tensor rand(params long[] shape) => rand(shape, null);
    public static Tensor randint(long low, long high, long[] shape, Generator? generator = null) =>
        Op("aten::randint.low_generator").Tensor(low, high, shape, generator, ScalarType.Int64);
    public static Tensor randperm(long n, Generator? generator = null) =>
        Op("aten::randperm.generator").Tensor(n, generator, ScalarType.Int64);

    // ---- functions of several tensors ----
    public static Tensor cat(Tensor[] tensors, long dim = 0) => Op("aten::cat").Tensor(tensors, dim);
    public static Tensor cat(IEnumerable<Tensor> tensors, long dim = 0) => cat(tensors.ToArray(), dim);
    public static Tensor stack(Tensor[] tensors, long dim = 0) => Op("aten::stack").Tensor(tensors, dim);
    public static Tensor stack(IEnumerable<Tensor> tensors, long dim = 0) => stack(tensors.ToArray(), dim);
    public static Tensor where(Tensor condition, Tensor x, Tensor y) => Op("aten::where.self").Tensor(condition, x, y);
    public static Tensor maximum(Tensor a, Tensor b) => a.maximum(b);
    public static Tensor minimum(Tensor a, Tensor b) => a.minimum(b);
    public static Tensor matmul(Tensor a, Tensor b) => a.matmul(b);
    public static Tensor exp(Tensor x) => x.exp();
    public static Tensor log(Tensor x) => x.log();
    public static Tensor sigmoid(Tensor x) => x.sigmoid();
    public static Tensor abs(Tensor x) => x.abs();
    public static Tensor sqrt(Tensor x) => x.sqrt();
    public static Tensor clamp(Tensor x, double? min = null, double? max = null) => x.clamp(min, max);
    public static Tensor softmax(Tensor x, long dim) => x.softmax(dim);
    public static Tensor log_softmax(Tensor x, long dim) => x.log_softmax(dim);
    public static Tensor sum(Tensor x) => x.sum();
    public static Tensor mean(Tensor x) => x.mean();
    public static Tensor topk(Tensor x, long k) => x.topk(k).values;
    public static Tensor[] meshgrid(Tensor[] tensors, string indexing = "ij") => Op("aten::meshgrid.indexing").Tensors(tensors, indexing);
    public static bool allclose(Tensor a, Tensor b, double rtol = 1e-5, double atol = 1e-8) => a.allclose(b, rtol, atol);
}
