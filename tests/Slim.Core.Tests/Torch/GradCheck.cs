using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Torch;

/// <summary>
/// Deterministic inputs and a central finite-difference gradient check in float64.
/// Inputs come from a formula, not a random generator, so the Python reference script
/// (Fixtures/make_reference.py) rebuilds exactly the same numbers.
/// </summary>
internal static class GradCheck
{
    private const double Golden = 0.6180339887498949;

    /// <summary>
    /// Element i of a deterministic sequence in (offset - scale, offset + scale):
    /// scale·(2·frac((i+1)·φ + phase) − 1) + offset. The values are pairwise distinct and
    /// well spread, which keeps max-pool windows and ReLU inputs away from their kinks.
    /// Python: <c>scale*(2*(((i+1)*G + phase) % 1.0) - 1) + offset</c> gives the same bits.
    /// </summary>
    public static double[] Values(long n, double scale = 1, double phase = 0, double offset = 0)
    {
        var v = new double[n];
        for (long i = 0; i < n; i++)
        {
            double t = (i + 1) * Golden + phase;
            v[i] = scale * (2 * (t - Math.Floor(t)) - 1) + offset;
        }
        return v;
    }

    /// <summary>A float64 tensor of the given shape filled from <see cref="Values"/>.</summary>
    public static Tensor Det(long[] shape, double scale = 1, double phase = 0, double offset = 0) =>
        tensor(Values(shape.Aggregate(1L, (a, b) => a * b), scale, phase, offset), shape);

    /// <summary>
    /// Checks the gradient of f with respect to every input against central differences.
    /// f's output is reduced with fixed, non-uniform weights (so a function whose plain sum
    /// is constant, such as softmax, still gets a meaningful check). Inputs are float64
    /// tensors; they are not modified. Fails the test with the first mismatching element.
    /// </summary>
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double h = 1e-6, double rtol = 1e-6,
        double atol = 1e-8, string? name = null)
    {
        using var scope = NewDisposeScope();
        var label = name ?? "function";
        var data = inputs.Select(t => t.data<double>()).ToArray();
        var shapes = inputs.Select(t => t.shape).ToArray();

        // Analytic: d(sum(w * f(x)))/dx by backward.
        var leaves = data.Select((d, k) => tensor(d, shapes[k]).requires_grad_()).ToArray();
        var y = f(leaves);
        Assert.Equal(ScalarType.Float64, y.dtype);
        var w = Det(y.shape, 1.0, 0.37, 0.25);
        y.mul(w).sum().backward();
        var analytic = leaves.Select(l => l.grad?.data<double>() ?? new double[l.numel()]).ToArray();
        var weights = w.data<double>();

        double Loss(double[][] xs)
        {
            using var s = NewDisposeScope();
            using var _ = no_grad();
            var ts = xs.Select((d, k) => tensor(d, shapes[k])).ToArray();
            var o = f(ts).data<double>();
            double acc = 0;
            for (int i = 0; i < o.Length; i++) acc += o[i] * weights[i];
            return acc;
        }

        for (int k = 0; k < data.Length; k++)
        {
            for (int i = 0; i < data[k].Length; i++)
            {
                double x0 = data[k][i];
                data[k][i] = x0 + h;
                double plus = Loss(data);
                data[k][i] = x0 - h;
                double minus = Loss(data);
                data[k][i] = x0;
                double numeric = (plus - minus) / (2 * h);
                double a = analytic[k][i];
                if (Math.Abs(a - numeric) > atol + rtol * Math.Abs(numeric))
                    Assert.Fail($"{label}: d/d input{k}[{i}] analytic {a:R} vs finite difference {numeric:R} " +
                                $"(diff {Math.Abs(a - numeric):E2})");
            }
        }
    }
}
