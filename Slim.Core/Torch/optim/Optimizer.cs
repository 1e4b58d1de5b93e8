namespace Slim.Torch;

public static partial class torch
{
    public static partial class optim
    {
        /// <summary>
        /// Base of the optimizers: a list of parameters, a learning rate the schedules set, and
        /// per-parameter state tensors that checkpoints save so a resumed run continues exactly.
        /// </summary>
        public abstract class Optimizer : IDisposable
        {
            private readonly Dictionary<string, Tensor>[] _state;

            protected Optimizer(IEnumerable<Tensor> parameters, double lr)
            {
                Parameters = parameters.ToArray();
                if (Parameters.Count == 0) throw new ArgumentException("optimizer got an empty parameter list");
                if (lr < 0) throw new ArgumentOutOfRangeException(nameof(lr), lr, "learning rate must be >= 0");
                LearningRate = lr;
                _state = Parameters.Select(_ => new Dictionary<string, Tensor>()).ToArray();
            }

            public IReadOnlyList<Tensor> Parameters { get; }
            public double LearningRate { get; set; }

            /// <summary>Number of steps taken.</summary>
            public long StepCount { get; protected set; }

            /// <summary>Applies one update from the parameters' gradients (parameters without one are skipped).</summary>
            public void step()
            {
                using var _ = no_grad();
                StepCount++;
                for (int i = 0; i < Parameters.Count; i++)
                {
                    using var scope = NewDisposeScope();
                    var g = Parameters[i].grad;
                    if (g is null) continue;
                    Update(Parameters[i], g, _state[i]);
                }
            }

            /// <summary>Updates p in place from its gradient g; state tensors it creates must be detached from scopes.</summary>
            protected abstract void Update(Tensor p, Tensor g, Dictionary<string, Tensor> state);

            public void zero_grad()
            {
                foreach (var p in Parameters) p.grad = null;
            }

            /// <summary>The state as named tensors ("3.momentum_buffer") plus the step count.</summary>
            public Dictionary<string, Tensor> state_dict()
            {
                var d = new Dictionary<string, Tensor>();
                for (int i = 0; i < _state.Length; i++)
                    foreach (var (k, v) in _state[i]) d[$"{i}.{k}"] = v;
                return d;
            }

            /// <summary>Restores state saved by <see cref="state_dict"/> (copies the tensors).</summary>
            public void load_state_dict(IReadOnlyDictionary<string, Tensor> d, long stepCount)
            {
                foreach (var s in _state)
                {
                    foreach (var t in s.Values) t.Dispose();
                    s.Clear();
                }
                foreach (var (k, v) in d)
                {
                    int dot = k.IndexOf('.');
                    if (dot < 0 || !int.TryParse(k[..dot], out int i) || i < 0 || i >= _state.Length)
                        throw new ArgumentException($"optimizer state key '{k}' does not fit {_state.Length} parameters");
                    _state[i][k[(dot + 1)..]] = v.clone().DetachFromDisposeScope();
                }
                StepCount = stepCount;
            }

            protected static Tensor Keep(Tensor t) => t.DetachFromDisposeScope();

            public void Dispose()
            {
                foreach (var s in _state)
                {
                    foreach (var t in s.Values) t.Dispose();
                    s.Clear();
                }
                GC.SuppressFinalize(this);
            }
        }

        /// <summary>SGD with momentum, dampening, Nesterov momentum and L2 weight decay (PyTorch's update rule).</summary>
        public sealed class SGD : Optimizer
        {
            public SGD(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double weight_decay = 0,
                bool nesterov = false, double dampening = 0) : base(parameters, lr)
            {
                if (nesterov && (momentum <= 0 || dampening != 0))
                    throw new ArgumentException("Nesterov momentum needs momentum > 0 and zero dampening");
                Momentum = momentum;
                WeightDecay = weight_decay;
                Nesterov = nesterov;
                Dampening = dampening;
            }

            public double Momentum { get; }
            public double WeightDecay { get; }
            public bool Nesterov { get; }
            public double Dampening { get; }

            protected override void Update(Tensor p, Tensor g, Dictionary<string, Tensor> state)
            {
                var d = WeightDecay != 0 ? g.add(p, WeightDecay) : g;
                if (Momentum != 0)
                {
                    if (!state.TryGetValue("momentum_buffer", out var buf))
                        state["momentum_buffer"] = buf = Keep(d.clone());
                    else
                        buf.mul_(Momentum).add_(d, 1 - Dampening);
                    d = Nesterov ? d.add(buf, Momentum) : buf;
                }
                p.add_(d, -LearningRate);
            }
        }

        /// <summary>Adam (with L2 weight decay) or AdamW (decoupled weight decay).</summary>
        public sealed class Adam : Optimizer
        {
            public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
                double eps = 1e-8, double weight_decay = 0, bool decoupled = false) : base(parameters, lr)
            {
                Beta1 = beta1;
                Beta2 = beta2;
                Eps = eps;
                WeightDecay = weight_decay;
                Decoupled = decoupled;
            }

            public double Beta1 { get; }
            public double Beta2 { get; }
            public double Eps { get; }
            public double WeightDecay { get; }
            public bool Decoupled { get; }

            protected override void Update(Tensor p, Tensor g, Dictionary<string, Tensor> state)
            {
                if (WeightDecay != 0)
                {
                    if (Decoupled) p.mul_(1 - LearningRate * WeightDecay);
                    else g = g.add(p, WeightDecay);
                }
                if (!state.TryGetValue("exp_avg", out var m))
                {
                    state["exp_avg"] = m = Keep(zeros_like(p));
                    state["exp_avg_sq"] = Keep(zeros_like(p));
                }
                var v = state["exp_avg_sq"];
                m.lerp_(g, 1 - Beta1);
                v.mul_(Beta2).addcmul_(g, g, 1 - Beta2);
                double bc1 = 1 - Math.Pow(Beta1, StepCount);
                double bc2 = 1 - Math.Pow(Beta2, StepCount);
                var denom = v.sqrt().div_(Math.Sqrt(bc2)).add_(Eps);
                p.addcdiv_(m, denom, -LearningRate / bc1);
            }
        }


        public static Adam AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double weight_decay = 0.01) =>
            new(parameters, lr, weight_decay: weight_decay, decoupled: true);
    }
}
