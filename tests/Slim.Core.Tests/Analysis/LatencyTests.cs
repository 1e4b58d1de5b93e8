using Slim.Analysis;
using Slim.Models;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Analysis;

public class LatencyTests
{
    [Fact]
    public void MedianLiesBetweenExtremesAndThreadsAreRestored()
    {
        using var model = ModelRegistry.CreateClassifier("mobilenet_v1", new ModelOptions { NumClasses = 10, Width = 0.25, InputSize = 32 });
        model.train();
        int threadsBefore = get_num_threads();
        var result = Latency.Measure(model, new long[] { 1, 3, 32, 32 }, runs: 5, warmup: 1, threads: 1);
        Assert.Equal(1, result.Threads);
        Assert.Equal(5, result.Runs);
        Assert.True(result.MinMs > 0);
        Assert.InRange(result.MedianMs, result.MinMs, result.MaxMs);
        Assert.Equal(threadsBefore, get_num_threads());
        Assert.True(model.training);
        Assert.Contains("1 thread(s)", result.ToString());
    }

    [Fact]
    public void InvalidRunCountIsRejected()
    {
        using var model = ModelRegistry.CreateClassifier("resnet18", new ModelOptions { NumClasses = 10, Width = 0.25, InputSize = 32 });
        Assert.Throws<ArgumentOutOfRangeException>(() => Latency.Measure(model, new long[] { 1, 3, 32, 32 }, runs: 0));
    }
}
