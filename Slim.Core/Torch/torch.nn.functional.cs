namespace Slim.Torch;

public static partial class torch
{
    public static partial class nn
    {
        /// <summary>Stateless layers and losses (torch.nn.functional).</summary>
        public static class functional
        {
            private static AtenOp Op(string name) => AtenOp.Get(name);

            /// <summary>Loss reductions; the values are ATen's Reduction enum.</summary>
            public enum Reduction { None = 0, Mean = 1, Sum = 2 }

            public static Tensor conv2d(Tensor input, Tensor weight, Tensor? bias = null, long[]? stride = null,
                long[]? padding = null, long[]? dilation = null, long groups = 1) =>
                Op("aten::conv2d").Tensor(input, weight, bias, stride ?? new long[] { 1, 1 }, padding ?? new long[] { 0, 0 },
                    dilation ?? new long[] { 1, 1 }, groups);

            public static Tensor linear(Tensor input, Tensor weight, Tensor? bias = null) =>
                Op("aten::linear").Tensor(input, weight, bias);

            /// <summary>Batch norm; in training mode updates running_mean/var in place with the momentum.</summary>
            public static Tensor batch_norm(Tensor input, Tensor? running_mean, Tensor? running_var, Tensor? weight = null,
                Tensor? bias = null, bool training = false, double momentum = 0.1, double eps = 1e-5) =>
                Op("aten::batch_norm").Tensor(input, weight, bias, running_mean, running_var, training, momentum, eps, false);

            public static Tensor relu(Tensor x) => Op("aten::relu").Tensor(x);
            public static Tensor relu6(Tensor x) => Op("aten::hardtanh").Tensor(x, 0.0, 6.0);
            public static Tensor leaky_relu(Tensor x, double negative_slope = 0.01) => Op("aten::leaky_relu").Tensor(x, negative_slope);
            public static Tensor hardswish(Tensor x) => Op("aten::hardswish").Tensor(x);
            public static Tensor hardsigmoid(Tensor x) => Op("aten::hardsigmoid").Tensor(x);
            public static Tensor sigmoid(Tensor x) => Op("aten::sigmoid").Tensor(x);
            public static Tensor tanh(Tensor x) => Op("aten::tanh").Tensor(x);
            public static Tensor softmax(Tensor x, long dim) => x.softmax(dim);
            public static Tensor log_softmax(Tensor x, long dim) => x.log_softmax(dim);

            public static Tensor max_pool2d(Tensor x, long[] kernel_size, long[]? stride = null, long[]? padding = null,
                long[]? dilation = null, bool ceil_mode = false) =>
                Op("aten::max_pool2d").Tensor(x, kernel_size, stride ?? kernel_size, padding ?? new long[] { 0, 0 },
                    dilation ?? new long[] { 1, 1 }, ceil_mode);

            public static Tensor avg_pool2d(Tensor x, long[] kernel_size, long[]? stride = null, long[]? padding = null,
                bool ceil_mode = false, bool count_include_pad = true) =>
                Op("aten::avg_pool2d").Tensor(x, kernel_size, stride ?? kernel_size, padding ?? new long[] { 0, 0 },
                    ceil_mode, count_include_pad, OpArg.None);

            public static Tensor adaptive_avg_pool2d(Tensor x, long[] output_size) =>
                Op("aten::adaptive_avg_pool2d").Tensor(x, output_size);

            /// <summary>Resizes NCHW maps: mode "nearest" or "bilinear", by size or scale factor.</summary>
            public static Tensor interpolate(Tensor x, long[]? size = null, double? scale_factor = null, string mode = "nearest",
                bool align_corners = false)
            {
                var sf = scale_factor is double s ? new[] { s, s } : null;
                return mode switch
                {
                    "nearest" => Op("aten::upsample_nearest2d.vec").Tensor(x, size, sf),
                    "bilinear" => Op("aten::upsample_bilinear2d.vec").Tensor(x, size, align_corners, sf),
                    _ => throw new TorchException($"interpolate: unknown mode '{mode}': expected nearest or bilinear"),
                };
            }

            public static Tensor pad(Tensor x, long[] pad, double value = 0) => Op("aten::constant_pad_nd").Tensor(x, pad, value);

            public static Tensor dropout(Tensor x, double p = 0.5, bool training = true) =>
                Op("aten::dropout").Tensor(x, p, training);

            public static Tensor binary_cross_entropy_with_logits(Tensor input, Tensor target, Tensor? weight = null,
                Reduction reduction = Reduction.Mean, Tensor? pos_weight = null) =>
                Op("aten::binary_cross_entropy_with_logits").Tensor(input, target, weight, pos_weight, (long)reduction);

            public static Tensor binary_cross_entropy(Tensor input, Tensor target, Tensor? weight = null,
                Reduction reduction = Reduction.Mean) =>
                Op("aten::binary_cross_entropy").Tensor(input, target, weight, (long)reduction);

            /// <summary>Cross entropy of logits against class indices (or probabilities), with label smoothing.</summary>
            public static Tensor cross_entropy(Tensor input, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean,
                long ignore_index = -100, double label_smoothing = 0.0) =>
                Op("aten::cross_entropy_loss").Tensor(input, target, weight, (long)reduction, ignore_index, label_smoothing);

            public static Tensor nll_loss(Tensor input, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean,
                long ignore_index = -100) =>
                Op("aten::nll_loss").Tensor(input, target, weight, (long)reduction, ignore_index);

            public static Tensor mse_loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean) =>
                Op("aten::mse_loss").Tensor(input, target, (long)reduction);

            public static Tensor l1_loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean) =>
                Op("aten::l1_loss").Tensor(input, target, (long)reduction);

            public static Tensor smooth_l1_loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean, double beta = 1.0) =>
                Op("aten::smooth_l1_loss").Tensor(input, target, (long)reduction, beta);

            /// <summary>KL divergence; input holds log-probabilities (target probabilities unless log_target).</summary>
            public static Tensor kl_div(Tensor input, Tensor target, Reduction reduction = Reduction.Mean, bool log_target = false) =>
                Op("aten::kl_div").Tensor(input, target, (long)reduction, log_target);

            /// <summary>Per-tensor fake quantization with a straight-through gradient inside [quant_min, quant_max].</summary>
            public static Tensor fake_quantize_per_tensor_affine(Tensor x, double scale, long zero_point, long quant_min, long quant_max) =>
                Op("aten::fake_quantize_per_tensor_affine").Tensor(x, scale, zero_point, quant_min, quant_max);

            /// <summary>Per-channel fake quantization along axis (scale float32, zero_point int32 tensors).</summary>
            public static Tensor fake_quantize_per_channel_affine(Tensor x, Tensor scale, Tensor zero_point, long axis, long quant_min,
                long quant_max) =>
                Op("aten::fake_quantize_per_channel_affine").Tensor(x, scale, zero_point, axis, quant_min, quant_max);
        }
    }
}
