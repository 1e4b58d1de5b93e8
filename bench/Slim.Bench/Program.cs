using System.Diagnostics;
using System.Globalization;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Bench;

/// <summary>
/// Times one training step (forward, backward, SGD step) of a MobileNet-like stack of
/// depthwise-separable blocks, batch 8 of 3×160×160. bench/step_torch.py does the same
/// step in PyTorch; bench/run.sh runs both and prints the ratio.
/// It also times the binding's per-operator overhead on tiny tensors (--ops), where the
/// arithmetic is negligible and what remains is the cost of one call through each binding.
/// Usage: Slim.Bench [--threads 2] [--warmup 5] [--steps 20]
/// </summary>
public static class Program
{
    /// <summary>conv3x3 s2 3→32 + BN + ReLU, six dw/pw blocks, global pool, linear 10.</summary>
    public static Sequential MobileNetLike()
    {
        var layers = new List<nn.Module<Tensor, Tensor>>
        {
            new Conv2d(3, 32, 3, stride: 2, padding: 1, bias: false), new BatchNorm2d(32), nn.ReLU(),
        };
        var blocks = new (long input, long output, long stride)[]
        {
            (32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
        };
        foreach (var (cin, cout, stride) in blocks)
        {
            layers.Add(new Conv2d(cin, cin, 3, stride: stride, padding: 1, groups: cin, bias: false));
            layers.Add(new BatchNorm2d(cin));
            layers.Add(nn.ReLU());
            layers.Add(new Conv2d(cin, cout, 1, bias: false));
            layers.Add(new BatchNorm2d(cout));
            layers.Add(nn.ReLU());
        }
        layers.Add(nn.AdaptiveAvgPool2d(1));
        layers.Add(nn.Flatten());
        layers.Add(nn.Linear(512, 10));
        return nn.Sequential(layers.ToArray());
    }

    public static int Main(string[] args)
    {
        if (args.Contains("--zoo-mini")) return ZooMiniTable.Run(args);
        if (args.Contains("--latency-target")) return LatencyTargetBench.Run(args);
        if (args.Contains("--latency")) return LatencyBench.Run(args);
        if (args.Contains("--profile")) return ProfileBench.Run(args);
        int threads = Arg(args, "--threads", 2);
        int warmup = Arg(args, "--warmup", 5);
        int steps = Arg(args, "--steps", 20);
        set_num_threads(threads);
        manual_seed(0);

        using var model = MobileNetLike();
        model.train();
        using var opt = new optim.SGD(model.parameters(), 0.01, momentum: 0.9, weight_decay: 1e-4);
        using var x = randn(8, 3, 160, 160);
        using var y = tensor(new long[] { 0, 1, 2, 3, 4, 5, 6, 7 });

        void Step()
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            var loss = F.cross_entropy(model.call(x), y);
            loss.backward();
            opt.step();
        }

        for (int i = 0; i < warmup; i++) Step();
        var wall = new double[steps];
        var cpu = new double[steps];
        long live = Tensor.LiveCount;
        var process = Process.GetCurrentProcess();
        for (int i = 0; i < steps; i++)
        {
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            Step();
            wall[i] = sw.Elapsed.TotalMilliseconds;
            process.Refresh();
            cpu[i] = (process.TotalProcessorTime - cpu0).TotalMilliseconds;
        }
        if (Tensor.LiveCount != live) Console.Error.WriteLine($"warning: {Tensor.LiveCount - live} tensors leaked over the timed steps");

        double opMicros = OpOverhead();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"csharp threads={get_num_threads()} steps={steps} median_ms={Median(wall):F2} min_ms={wall.Min():F2} " +
            $"cpu_median_ms={Median(cpu):F2} op_us={opMicros:F2}"));
        return 0;
    }

    /// <summary>Microseconds per operator call on 4-element tensors: the median of 15 batches of 3×2000 calls.</summary>
    private static double OpOverhead()
    {
        using var a = ones(4);
        using var b = ones(4);
        var batches = new double[15];
        for (int k = 0; k < batches.Length; k++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 2000; i++)
            {
                using var c = a.add(b);
                using var d = c.relu();
                using var e = d.mul(2.0);
            }
            batches[k] = sw.Elapsed.TotalMilliseconds * 1000 / 6000;
        }
        return Median(batches);
    }

    private static double Median(double[] values)
    {
        var v = values.OrderBy(x => x).ToArray();
        int n = v.Length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
