using Slim.Torch;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Torch;

/// <summary>
/// Bad calls surface as exceptions carrying libtorch's own message, and the process (and
/// the binding's per-thread call stack) keeps working afterwards.
/// </summary>
public class ErrorTests
{
    private static void AssertStillWorks()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new[] { 1f, 2f, 3f, 4f }, 2, 2);
        Assert.Equal(new[] { 7f, 10f, 15f, 22f }, a.matmul(a).data<float>());
    }

    private static TorchException Throws(Action call, params string[] fragments)
    {
        var e = Assert.Throws<TorchException>(call);
        foreach (var f in fragments) Assert.Contains(f, e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("\n", e.Message);
        AssertStillWorks();
        return e;
    }

    [Fact]
    public void ShapeMismatchesRaiseLibtorchMessages()
    {
        using var scope = NewDisposeScope();
        Throws(() => randn(2, 3).matmul(randn(4, 5)), "mat1 and mat2 shapes cannot be multiplied", "2x3", "4x5");
        Throws(() => F.conv2d(randn(1, 3, 8, 8), randn(4, 5, 3, 3)), "expected input[1, 3, 8, 8] to have 5 channels");
        Throws(() => cat(new[] { randn(2, 3), randn(2, 4) }, 0), "Sizes of tensors must match");
    }

    [Fact]
    public void WrongDtypeRaises()
    {
        using var scope = NewDisposeScope();
        var ints = ones(new long[] { 1, 1, 4, 4 }, ScalarType.Int64);
        var e = Throws(() => F.conv2d(ints, randn(1, 1, 3, 3)));
        Assert.Contains("Long", e.Message);
        Throws(() => randn(2, 2).matmul(ones(new long[] { 2, 2 }, ScalarType.Int32)), "expected", "Int");
    }

    [Fact]
    public void OutOfRangeIndexesRaise()
    {
        using var scope = NewDisposeScope();
        var x = randn(3, 4);
        Throws(() => x.select(0, 5), "index 5 out of range");
        Throws(() => x.index_select(1, tensor(new long[] { 0, 9 })), "out of DATA bounds");
        Throws(() => x.gather(1, tensor(new long[] { 0, 7, 1, 2, 0, 0, 1, 1, 2, 2, 3, 3 }, 3, 4)), "out of bounds");
        Throws(() => x.size(5), "dimension 5 out of range");
    }

    [Fact]
    public void UnknownDeviceOperatorAndArgumentsRaise()
    {
        using var scope = NewDisposeScope();
        Throws(() => Device.Parse("tpu:0"), "unknown device 'tpu:0'", "cpu, cuda or cuda:N");
        Throws(() => AtenOp.Get("aten::no_such_operator").Tensor(randn(2)), "no operator aten::no_such_operator");
        Throws(() => AtenOp.Get("aten::relu").Tensor(randn(2), randn(2), 3), "aten::relu takes 1 arguments but was given 3");
        Throws(() => AtenOp.Get("aten::add.Tensor").Tensor(randn(2)), "argument 'other' has no default");
        Throws(() => AtenOp.Get("aten::relu").Tensor(1.5), "no tensor arguments");
        if (!cuda.is_available())
            Throws(() => randn(2).to(new Device(DeviceType.CUDA, 0)));
    }

    [Fact]
    public void DisposedTensorUseRaisesObjectDisposed()
    {
        var x = randn(2, 2);
        var y = randn(2, 2);
        x.Dispose();
        Assert.True(x.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => x.add(y));
        Assert.Throws<ObjectDisposedException>(() => y.add(x));
        Assert.Throws<ObjectDisposedException>(() => cat(new[] { y, x }));
        Assert.Throws<ObjectDisposedException>(() => x.shape);
        x.Dispose();  // idempotent
        y.Dispose();
        var g = new Generator(1);
        g.Dispose();
        Assert.Throws<ObjectDisposedException>(() => randn(new long[] { 2 }, g));
        AssertStillWorks();
    }

    [Fact]
    public void NullEntryInTensorListIsAnErrorNotACrash()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentNullException>(() => cat(new Tensor[] { randn(2), null! }));
        AssertStillWorks();
    }

    [Fact]
    public void FailedCallsLeakNoHandles()
    {
        using var scope = NewDisposeScope();
        var x = randn(3, 4);
        long before = Tensor.LiveCount;
        for (int i = 0; i < 20; i++)
        {
            Assert.Throws<TorchException>(() => x.matmul(x));
            Assert.Throws<TorchException>(() => x.select(0, 10));
        }
        Assert.Equal(before, Tensor.LiveCount);
    }
}
