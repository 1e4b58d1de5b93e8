using System.Runtime.CompilerServices;
using Slim.Torch;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Torch;

/// <summary>
/// The binding's own paths (operator calls, in-place ops, modules, optimizers, Module.to,
/// tracing, checkpoints) dispose every handle they create: after all their garbage is
/// collected, no tensor was left for the finalizer.
/// </summary>
public class LeakTests
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Exercise(string dir)
    {
        using var net = nn.Sequential(nn.Conv2d(3, 4, 3, padding: 1), nn.BatchNorm2d(4), nn.ReLU6(), nn.MaxPool2d(2),
            nn.Conv2d(4, 4, 3, padding: 1, groups: 4), nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3));
        using var opt = new optim.SGD(net.parameters(), 0.1, momentum: 0.9, nesterov: true);
        using var adam = optim.AdamW(net.parameters(), 1e-3);
        for (int i = 0; i < 3; i++)
        {
            using var scope = NewDisposeScope();
            var x = randn(2, 3, 8, 8);
            var loss = F.cross_entropy(net.call(x), tensor(new long[] { 0, 2 }), label_smoothing: 0.1);
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(net.parameters(), 1.0);
            opt.step();
            adam.step();
            var (values, indexes) = x.flatten(1).max(1);
            var parts = x.split(1, 0);
            x.index_put_(new Tensor?[] { tensor(new long[] { 0 }) }, zeros(1));
        }
        net.to(ScalarType.Float64);
        net.to(ScalarType.Float32);
        using (var scope = NewDisposeScope())
        using (var trace = Trace.Run(net, new[] { randn(1, 3, 8, 8) }, xs => new[] { net.call(xs[0]) }))
            Assert.NotEmpty(trace.Nodes);
        var path = Path.Combine(dir, "leak.slim");
        Checkpoint.Save(path, net.state_dict());
        var (tensors, _) = Checkpoint.Load(path);
        net.load_state_dict(tensors);
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void NothingIsLeftForTheFinalizer()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"slim-leak-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long finalized = Tensor.FinalizedCount;
            long live = Tensor.LiveCount;
            Exercise(dir);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Assert.Equal(finalized, Tensor.FinalizedCount);
            Assert.Equal(live, Tensor.LiveCount);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
