namespace Slim.Torch;

public static partial class torch
{
    public static partial class nn
    {
        /// <summary>Parameter initializers (torch.nn.init); all draw from the global generator.</summary>
        public static class init
        {
            private static (long fanIn, long fanOut) Fans(Tensor t)
            {
                var s = t.shape;
                if (s.Length < 2) throw new TorchException("fan in/out needs a tensor of at least 2 dimensions");
                long receptive = 1;
                for (int i = 2; i < s.Length; i++) receptive *= s[i];
                return (s[1] * receptive, s[0] * receptive);
            }

            /// <summary>He-uniform with leaky-ReLU slope a: U(-b, b), b = gain·√(3/fan_in), gain = √(2/(1+a²)).</summary>
            public static Tensor kaiming_uniform_(Tensor t, double a = 0)
            {
                using var _ = no_grad();
                var (fanIn, _) = Fans(t);
                double gain = Math.Sqrt(2.0 / (1 + a * a));
                double bound = gain * Math.Sqrt(3.0 / fanIn);
                return t.uniform_(-bound, bound);
            }

            /// <summary>He-normal (fan_out mode, as detection backbones use): N(0, 2/fan_out).</summary>
            public static Tensor kaiming_normal_(Tensor t, bool fanOut = true)
            {
                using var _ = no_grad();
                var (fi, fo) = Fans(t);
                return t.normal_(0, Math.Sqrt(2.0 / (fanOut ? fo : fi)));
            }

            public static Tensor xavier_uniform_(Tensor t)
            {
                using var _ = no_grad();
                var (fi, fo) = Fans(t);
                double bound = Math.Sqrt(6.0 / (fi + fo));
                return t.uniform_(-bound, bound);
            }

            public static Tensor normal_(Tensor t, double mean = 0, double std = 1)
            {
                using var _ = no_grad();
                return t.normal_(mean, std);
            }

            public static Tensor uniform_(Tensor t, double from = 0, double to = 1)
            {
                using var _ = no_grad();
                return t.uniform_(from, to);
            }

            public static Tensor constant_(Tensor t, double value)
            {
                using var _ = no_grad();
                return t.fill_(value);
            }

            public static Tensor zeros_(Tensor t) => constant_(t, 0);
            public static Tensor ones_(Tensor t) => constant_(t, 1);
        }
    }
}
