namespace Slim.Torch;

public static partial class torch
{
    public static partial class optim
    {
        public static partial class lr_scheduler
        {
            /// <summary>A learning rate as a function of the iteration (0-based).</summary>
            public abstract class LRSchedule
            {
                public abstract double At(long iteration);

                /// <summary>Sets the optimizer's learning rate for this iteration.</summary>
                public void Apply(Optimizer optimizer, long iteration) => optimizer.LearningRate = At(iteration);
            }

            /// <summary>values[i] until boundaries[i] (PaddleDetection's PiecewiseDecay with explicit values).</summary>
            public sealed class PiecewiseDecay : LRSchedule
            {
                private readonly long[] _boundaries;
                private readonly double[] _values;

                public PiecewiseDecay(long[] boundaries, double[] values)
                {
                    if (values.Length != boundaries.Length + 1)
                        throw new ArgumentException($"piecewise decay needs {boundaries.Length + 1} values for {boundaries.Length} boundaries, got {values.Length}");
                    for (int i = 1; i < boundaries.Length; i++)
                        if (boundaries[i] <= boundaries[i - 1]) throw new ArgumentException("piecewise decay boundaries must increase");
                    _boundaries = boundaries;
                    _values = values;
                }

                /// <summary>base·gamma^k after the k-th boundary.</summary>
                public static PiecewiseDecay FromGamma(double baseLr, long[] boundaries, double gamma = 0.1) =>
                    new(boundaries, Enumerable.Range(0, boundaries.Length + 1).Select(k => baseLr * Math.Pow(gamma, k)).ToArray());

                public override double At(long iteration)
                {
                    int k = 0;
                    while (k < _boundaries.Length && iteration >= _boundaries[k]) k++;
                    return _values[k];
                }
            }

            /// <summary>Cosine from baseLr to minLr over totalIterations.</summary>
            public sealed class CosineDecay(double baseLr, long totalIterations, double minLr = 0) : LRSchedule
            {
                public override double At(long iteration)
                {
                    double t = Math.Clamp((double)iteration / Math.Max(1, totalIterations), 0, 1);
                    return minLr + 0.5 * (baseLr - minLr) * (1 + Math.Cos(Math.PI * t));
                }
            }

            /// <summary>
            /// Polynomial decay (PaddleSeg's PolynomialDecay, the "poly" policy of DeepLab): (base − end)·(1 − t/T)^power + end,
            /// held at end past T.
            /// </summary>
            public sealed class PolynomialDecay(double baseLr, long totalIterations, double power = 0.9, double endLr = 0) : LRSchedule
            {
                public override double At(long iteration)
                {
                    double t = Math.Clamp((double)iteration / Math.Max(1, totalIterations), 0, 1);
                    return (baseLr - endLr) * Math.Pow(1 - t, power) + endLr;
                }
            }

            /// <summary>Linear warm-up from startFactor·lr to the inner schedule's lr over warmupSteps.</summary>
            public sealed class LinearWarmup(LRSchedule inner, long warmupSteps, double startFactor = 0.1) : LRSchedule
            {
                public override double At(long iteration)
                {
                    double lr = inner.At(iteration);
                    if (iteration >= warmupSteps || warmupSteps <= 0) return lr;
                    double alpha = (double)iteration / warmupSteps;
                    return lr * (startFactor * (1 - alpha) + alpha);
                }
            }

            /// <summary>A constant learning rate.</summary>
            public sealed class Constant(double lr) : LRSchedule
            {
                public override double At(long iteration) => lr;
            }
        }
    }

    public static partial class nn
    {
        public static partial class utils
        {
            /// <summary>Scales gradients so their global L2 norm is at most maxNorm; returns the norm before.</summary>
            public static double clip_grad_norm_(IEnumerable<Tensor> parameters, double maxNorm)
            {
                using var _ = no_grad();
                using var scope = NewDisposeScope();
                var grads = parameters.Select(p => p.grad).Where(g => g is not null).Cast<Tensor>().ToArray();
                if (grads.Length == 0) return 0;
                double total = Math.Sqrt(grads.Sum(g => Math.Pow(g.norm().item<double>(), 2)));
                double coef = maxNorm / (total + 1e-6);
                if (coef < 1) foreach (var g in grads) g.mul_(coef);
                return total;
            }
        }
    }
}
