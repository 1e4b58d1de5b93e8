namespace Slim.Torch;

// Tensor methods with PyTorch's names, each one ATen operator through the dispatcher.
public sealed partial class Tensor
{
    private static AtenOp Op(string name) => AtenOp.Get(name);

    // ---- conversion ----
    public Tensor to(ScalarType type) => Op("aten::to.dtype").Tensor(this, type);
    public Tensor to(Device device) => Op("aten::to.device").Tensor(this, device, dtype);
    public Tensor to(Device device, ScalarType type) => Op("aten::to.device").Tensor(this, device, type);
    public Tensor cpu() => to(Device.CPU);
    public Tensor cuda() => to(new Device(DeviceType.CUDA, 0));
    public Tensor @float() => to(ScalarType.Float32);
    public Tensor @double() => to(ScalarType.Float64);
    public Tensor @long() => to(ScalarType.Int64);
    public Tensor @bool() => to(ScalarType.Bool);
    public Tensor contiguous() => Op("aten::contiguous").Tensor(this);
    public Tensor clone() => Op("aten::clone").Tensor(this);
    public Tensor detach() => Op("aten::detach").Tensor(this);

    // ---- shape ----
    public Tensor view(params long[] shape) => Op("aten::view").Tensor(this, shape);
    public Tensor reshape(params long[] shape) => Op("aten::reshape").Tensor(this, shape);
    public Tensor permute(params long[] dims) => Op("aten::permute").Tensor(this, dims);
    public Tensor transpose(long dim0, long dim1) => Op("aten::transpose.int").Tensor(this, dim0, dim1);
    public Tensor t() => Op("aten::t").Tensor(this);
    public Tensor flatten(long start_dim = 0, long end_dim = -1) => Op("aten::flatten.using_ints").Tensor(this, start_dim, end_dim);
    public Tensor squeeze() => Op("aten::squeeze").Tensor(this);
    public Tensor squeeze(long dim) => Op("aten::squeeze.dim").Tensor(this, dim);
    public Tensor unsqueeze(long dim) => Op("aten::unsqueeze").Tensor(this, dim);
    public Tensor expand(params long[] sizes) => Op("aten::expand").Tensor(this, sizes);
    public Tensor expand_as(Tensor other) => Op("aten::expand_as").Tensor(this, other);
    public Tensor repeat(params long[] repeats) => Op("aten::repeat").Tensor(this, repeats);
    public Tensor narrow(long dim, long start, long length) => Op("aten::narrow").Tensor(this, dim, start, length);
    public Tensor slice(long dim, long? start, long? end, long step = 1) => Op("aten::slice.Tensor").Tensor(this, dim, start, end, step);
    public Tensor select(long dim, long index) => Op("aten::select.int").Tensor(this, dim, index);
    public Tensor index_select(long dim, Tensor index) => Op("aten::index_select").Tensor(this, dim, index);
    public Tensor gather(long dim, Tensor index) => Op("aten::gather").Tensor(this, dim, index);
    public Tensor masked_select(Tensor mask) => Op("aten::masked_select").Tensor(this, mask);
    public Tensor masked_fill(Tensor mask, double value) => Op("aten::masked_fill.Scalar").Tensor(this, mask, value);
    /// <summary>Advanced indexing: x[i0, i1, ...] with index tensors (null for ':').</summary>
    public Tensor index(params Tensor?[] indices) => Op("aten::index.Tensor").Tensor(this, OpArg.OptionalTensors(indices));
    public Tensor index_put_(Tensor?[] indices, Tensor values, bool accumulate = false)
    {
        Op("aten::index_put_").Void(this, OpArg.OptionalTensors(indices), values, accumulate);
        return this;
    }
    public Tensor[] split(long split_size, long dim = 0) => Op("aten::split.Tensor").Tensors(this, split_size, dim);
    public Tensor[] split(long[] split_sizes, long dim = 0) => Op("aten::split_with_sizes").Tensors(this, split_sizes, dim);
    public Tensor[] chunk(long chunks, long dim = 0) => Op("aten::chunk").Tensors(this, chunks, dim);
    public Tensor nonzero() => Op("aten::nonzero").Tensor(this);
    public Tensor flip(params long[] dims) => Op("aten::flip").Tensor(this, dims);

    /// <summary>x[i] along the first dimension.</summary>
    public Tensor this[long i] => select(0, i);

    // ---- arithmetic ----
    public Tensor add(Tensor other, double alpha = 1) => Op("aten::add.Tensor").Tensor(this, other, alpha);
    public Tensor add(double other) => Op("aten::add.Scalar").Tensor(this, other, 1);
    public Tensor sub(Tensor other, double alpha = 1) => Op("aten::sub.Tensor").Tensor(this, other, alpha);
    public Tensor sub(double other) => Op("aten::sub.Scalar").Tensor(this, other, 1);
    public Tensor mul(Tensor other) => Op("aten::mul.Tensor").Tensor(this, other);
    public Tensor mul(double other) => Op("aten::mul.Scalar").Tensor(this, other);
    public Tensor div(Tensor other) => Op("aten::div.Tensor").Tensor(this, other);
    public Tensor div(double other) => Op("aten::div.Scalar").Tensor(this, other);
    public Tensor neg() => Op("aten::neg").Tensor(this);
    public Tensor pow(double exponent) => Op("aten::pow.Tensor_Scalar").Tensor(this, exponent);
    public Tensor pow(Tensor exponent) => Op("aten::pow.Tensor_Tensor").Tensor(this, exponent);
    public Tensor sqrt() => Op("aten::sqrt").Tensor(this);
    public Tensor rsqrt() => Op("aten::rsqrt").Tensor(this);
    public Tensor reciprocal() => Op("aten::reciprocal").Tensor(this);
    public Tensor square() => Op("aten::square").Tensor(this);
    public Tensor abs() => Op("aten::abs").Tensor(this);
    public Tensor sign() => Op("aten::sign").Tensor(this);
    public Tensor floor() => Op("aten::floor").Tensor(this);
    public Tensor ceil() => Op("aten::ceil").Tensor(this);
    public Tensor round() => Op("aten::round").Tensor(this);
    public Tensor exp() => Op("aten::exp").Tensor(this);
    public Tensor log() => Op("aten::log").Tensor(this);
    public Tensor tanh() => Op("aten::tanh").Tensor(this);
    public Tensor sigmoid() => Op("aten::sigmoid").Tensor(this);
    public Tensor relu() => Op("aten::relu").Tensor(this);
    public Tensor softmax(long dim) => Op("aten::softmax.int").Tensor(this, dim, OpArg.None);
    public Tensor log_softmax(long dim) => Op("aten::log_softmax.int").Tensor(this, dim, OpArg.None);
    public Tensor clamp(double? min = null, double? max = null) => Op("aten::clamp").Tensor(this, min, max);
    public Tensor clamp_min(double min) => Op("aten::clamp_min").Tensor(this, min);
    public Tensor clamp_max(double max) => Op("aten::clamp_max").Tensor(this, max);
    public Tensor maximum(Tensor other) => Op("aten::maximum").Tensor(this, other);
    public Tensor minimum(Tensor other) => Op("aten::minimum").Tensor(this, other);
    public Tensor matmul(Tensor other) => Op("aten::matmul").Tensor(this, other);
    public Tensor mm(Tensor other) => Op("aten::mm").Tensor(this, other);
    public Tensor bmm(Tensor other) => Op("aten::bmm").Tensor(this, other);
    public Tensor where(Tensor condition, Tensor other) => Op("aten::where.self").Tensor(condition, this, other);

    // ---- in place (return this) ----
    private Tensor InPlace(string op, params ReadOnlySpan<OpArg> args)
    {
        Op(op).Void(args);
        return this;
    }
    public Tensor add_(Tensor other, double alpha = 1) => InPlace("aten::add_.Tensor", this, other, alpha);
    public Tensor add_(double other) => InPlace("aten::add_.Scalar", this, other, 1);
    public Tensor sub_(Tensor other, double alpha = 1) => InPlace("aten::sub_.Tensor", this, other, alpha);
    public Tensor mul_(Tensor other) => InPlace("aten::mul_.Tensor", this, other);
    public Tensor mul_(double other) => InPlace("aten::mul_.Scalar", this, other);
    public Tensor div_(Tensor other) => InPlace("aten::div_.Tensor", this, other);
    public Tensor div_(double other) => InPlace("aten::div_.Scalar", this, other);
    public Tensor addcmul_(Tensor t1, Tensor t2, double value = 1) => InPlace("aten::addcmul_", this, t1, t2, value);
    public Tensor addcdiv_(Tensor t1, Tensor t2, double value = 1) => InPlace("aten::addcdiv_", this, t1, t2, value);
    public Tensor copy_(Tensor src) => InPlace("aten::copy_", this, src, false);
    public Tensor zero_() => InPlace("aten::zero_", this);
    public Tensor fill_(double value) => InPlace("aten::fill_.Scalar", this, value);
    public Tensor clamp_(double? min = null, double? max = null) => InPlace("aten::clamp_", this, min, max);
    public Tensor sqrt_() => InPlace("aten::sqrt_", this);
    public Tensor uniform_(double from = 0, double to = 1, Generator? generator = null) => InPlace("aten::uniform_", this, from, to, generator);
    public Tensor normal_(double mean = 0, double std = 1, Generator? generator = null) => InPlace("aten::normal_", this, mean, std, generator);
    public Tensor masked_fill_(Tensor mask, double value) => InPlace("aten::masked_fill_.Scalar", this, mask, value);
    public Tensor lerp_(Tensor end, double weight) => InPlace("aten::lerp_.Scalar", this, end, weight);
    /// <summary>Replaces this tensor's data (keeping its identity), as PyTorch's param.data = t.</summary>
    public Tensor set_data(Tensor data) => InPlace("aten::set_data", this, data);

    // ---- comparison ----
    public Tensor eq(Tensor other) => Op("aten::eq.Tensor").Tensor(this, other);
    public Tensor eq(double other) => Op("aten::eq.Scalar").Tensor(this, other);
    public Tensor ne(Tensor other) => Op("aten::ne.Tensor").Tensor(this, other);
    public Tensor ne(double other) => Op("aten::ne.Scalar").Tensor(this, other);
    public Tensor lt(Tensor other) => Op("aten::lt.Tensor").Tensor(this, other);
    public Tensor lt(double other) => Op("aten::lt.Scalar").Tensor(this, other);
    public Tensor le(Tensor other) => Op("aten::le.Tensor").Tensor(this, other);
    public Tensor le(double other) => Op("aten::le.Scalar").Tensor(this, other);
    public Tensor gt(Tensor other) => Op("aten::gt.Tensor").Tensor(this, other);
    public Tensor gt(double other) => Op("aten::gt.Scalar").Tensor(this, other);
    public Tensor ge(Tensor other) => Op("aten::ge.Tensor").Tensor(this, other);
    public Tensor ge(double other) => Op("aten::ge.Scalar").Tensor(this, other);
    public Tensor logical_and(Tensor other) => Op("aten::logical_and").Tensor(this, other);
    public Tensor logical_or(Tensor other) => Op("aten::logical_or").Tensor(this, other);
    public Tensor logical_not() => Op("aten::logical_not").Tensor(this);
    public bool allclose(Tensor other, double rtol = 1e-5, double atol = 1e-8) =>
        Op("aten::allclose").Scalar(this, other, rtol, atol, false) != 0;
    public bool equal(Tensor other) => Op("aten::equal").Scalar(this, other) != 0;

    // ---- reductions ----
    public Tensor sum() => Op("aten::sum").Tensor(this, OpArg.None);
    public Tensor sum(long dim, bool keepdim = false) => Op("aten::sum.dim_IntList").Tensor(this, new[] { dim }, keepdim);
    public Tensor sum(long[] dims, bool keepdim = false) => Op("aten::sum.dim_IntList").Tensor(this, dims, keepdim);
    public Tensor mean() => Op("aten::mean").Tensor(this, OpArg.None);
    public Tensor mean(long dim, bool keepdim = false) => Op("aten::mean.dim").Tensor(this, new[] { dim }, keepdim);
    public Tensor mean(long[] dims, bool keepdim = false) => Op("aten::mean.dim").Tensor(this, dims, keepdim);
    public Tensor var(long dim, bool unbiased = true, bool keepdim = false) => Op("aten::var.dim").Tensor(this, new[] { dim }, unbiased, keepdim);
    public Tensor std(long dim, bool unbiased = true, bool keepdim = false) => Op("aten::std.dim").Tensor(this, new[] { dim }, unbiased, keepdim);
    public Tensor prod() => Op("aten::prod").Tensor(this, OpArg.None);
    public Tensor max() => Op("aten::max").Tensor(this);
    public Tensor min() => Op("aten::min").Tensor(this);
    /// <summary>Maximum along dim: (values, indices).</summary>
    public (Tensor values, Tensor indexes) max(long dim, bool keepdim = false)
    {
        var r = Op("aten::max.dim").Tensors(this, dim, keepdim);
        return (r[0], r[1]);
    }
    public (Tensor values, Tensor indexes) min(long dim, bool keepdim = false)
    {
        var r = Op("aten::min.dim").Tensors(this, dim, keepdim);
        return (r[0], r[1]);
    }
    public Tensor argmax() => Op("aten::argmax").Tensor(this, OpArg.None, false);
    public Tensor argmax(long dim, bool keepdim = false) => Op("aten::argmax").Tensor(this, dim, keepdim);
    public Tensor argmin(long dim, bool keepdim = false) => Op("aten::argmin").Tensor(this, dim, keepdim);
    public (Tensor values, Tensor indexes) topk(long k, long dim = -1, bool largest = true, bool sorted = true)
    {
        var r = Op("aten::topk").Tensors(this, k, dim, largest, sorted);
        return (r[0], r[1]);
    }
    public (Tensor values, Tensor indexes) sort(long dim = -1, bool descending = false)
    {
        var r = Op("aten::sort").Tensors(this, dim, descending);
        return (r[0], r[1]);
    }
    public Tensor argsort(long dim = -1, bool descending = false) => Op("aten::argsort").Tensor(this, dim, descending);
    public Tensor norm(double p = 2) => Op("aten::norm.Scalar").Tensor(this, p);
    public Tensor norm(double p, long[] dims, bool keepdim = false) => Op("aten::norm.ScalarOpt_dim").Tensor(this, p, dims, keepdim);
    public Tensor cumsum(long dim) => Op("aten::cumsum").Tensor(this, dim, OpArg.None);
    public Tensor any() => Op("aten::any").Tensor(this);
    public Tensor all() => Op("aten::all").Tensor(this);

    // ---- operators ----
    public static Tensor operator +(Tensor a, Tensor b) => a.add(b);
    public static Tensor operator +(Tensor a, double b) => a.add(b);
    public static Tensor operator +(double a, Tensor b) => b.add(a);
    public static Tensor operator -(Tensor a, Tensor b) => a.sub(b);
    public static Tensor operator -(Tensor a, double b) => a.sub(b);
    public static Tensor operator -(double a, Tensor b) => Op("aten::rsub.Scalar").Tensor(b, a, 1);
    public static Tensor operator *(Tensor a, Tensor b) => a.mul(b);
    public static Tensor operator *(Tensor a, double b) => a.mul(b);
    public static Tensor operator *(double a, Tensor b) => b.mul(a);
    public static Tensor operator /(Tensor a, Tensor b) => a.div(b);
    public static Tensor operator /(Tensor a, double b) => a.div(b);
    public static Tensor operator /(double a, Tensor b)
    {
        using var r = b.reciprocal();
        return r.mul(a);
    }
    public static Tensor operator -(Tensor a) => a.neg();
}
