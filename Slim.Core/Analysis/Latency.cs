using System.Diagnostics;
using System.Globalization;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Analysis;

/// <summary>Forward-pass timings of one model at one input shape.</summary>
/// <param name="MedianMs">Median over the timed runs, in milliseconds.</param>
/// <param name="MinMs">Fastest timed run.</param>
/// <param name="MaxMs">Slowest timed run.</param>
/// <param name="Runs">Timed runs (warm-up runs excluded).</param>
/// <param name="WarmupRuns">Untimed runs before them.</param>
/// <param name="Threads">Intra-op threads libtorch used.</param>
/// <param name="InputShape">The input's shape.</param>
public sealed record LatencyResult(double MedianMs, double MinMs, double MaxMs, int Runs, int WarmupRuns, int Threads, long[] InputShape)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"median {MedianMs:F2} ms (min {MinMs:F2}, max {MaxMs:F2}) over {Runs} runs after {WarmupRuns} warm-up, " +
        $"{Threads} thread(s), input [{string.Join("×", InputShape)}]");
}

/// <summary>Measures the median forward time of a model in eval mode without gradients.</summary>
public static class Latency
{
    /// <summary>Times a one-output model (classifier).</summary>
    public static LatencyResult Measure(nn.Module<Tensor, Tensor> model, long[] inputShape, int runs = 20, int warmup = 3, int? threads = null) =>
        Measure(model, inputShape, x => new[] { model.call(x) }, runs, warmup, threads);

    /// <summary>Times a several-output model (detector).</summary>
    public static LatencyResult Measure(nn.Module<Tensor, Tensor[]> model, long[] inputShape, int runs = 20, int warmup = 3, int? threads = null) =>
        Measure(model, inputShape, model.call, runs, warmup, threads);

    /// <summary>
    /// Runs forward warmup times untimed, then runs times timed, each on the same random input, and reports
    /// the median. With threads, libtorch's intra-op thread count is set for the measurement and restored after.
    /// Modules' train/eval modes are restored too.
    /// </summary>
    public static LatencyResult Measure(nn.Module model, long[] inputShape, Func<Tensor, IEnumerable<Tensor>> forward,
        int runs = 20, int warmup = 3, int? threads = null)
    {
        if (runs < 1) throw new ArgumentOutOfRangeException(nameof(runs), runs, "Latency: runs must be at least 1");
        if (warmup < 0) throw new ArgumentOutOfRangeException(nameof(warmup), warmup, "Latency: warmup must not be negative");
        if (threads is < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "Latency: threads must be at least 1");

        int previousThreads = get_num_threads();
        var modes = model.named_modules().Select(m => (m.module, m.module.training)).ToList();
        if (threads is { } t) set_num_threads(t);
        model.eval();
        try
        {
            using var grad = no_grad();
            using var outer = NewDisposeScope();
            var x = randn(inputShape, new Generator(0));
            var times = new double[runs];
            for (int i = 0; i < warmup + runs; i++)
            {
                using var scope = NewDisposeScope();
                long start = Stopwatch.GetTimestamp();
                // Materialise the outputs so lazy enumerables cannot skip work.
                var outputs = forward(x).ToArray();
                double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (outputs.Length == 0) throw new InvalidOperationException("Latency: the forward returned no output");
                if (i >= warmup) times[i - warmup] = ms;
            }
            Array.Sort(times);
            double median = runs % 2 == 1 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
            return new LatencyResult(median, times[0], times[^1], runs, warmup, get_num_threads(), (long[])inputShape.Clone());
        }
        finally
        {
            foreach (var (m, training) in modes) m.train(training);
            if (threads is not null) set_num_threads(previousThreads);
        }
    }
}
