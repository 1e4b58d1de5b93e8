using Slim.Torch;
using static Slim.Torch.torch;
using static Slim.Core.Tests.Torch.GradCheck;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Torch;

/// <summary>
/// Every differentiable function the rest of Slim relies on, checked against central finite
/// differences in float64. Inputs of functions with kinks (ReLU family, pools, L1) are the
/// well-spread deterministic values of <see cref="GradCheck.Values"/>, far from the kinks
/// compared with the step of 1e-6.
/// </summary>
public class GradientTests
{
    private static long[] S(params long[] s) => s;

    private static readonly Dictionary<string, Action> Cases = new()
    {
        // ---- convolution: stride, padding, dilation, groups, depthwise ----
        ["conv2d_stride2_pad1"] = () => Check(x => F.conv2d(x[0], x[1], x[2], S(2, 2), S(1, 1)),
            new[] { Det(S(2, 3, 7, 7)), Det(S(4, 3, 3, 3), 0.5, 0.1), Det(S(4), 0.2, 0.2) }),
        ["conv2d_dilation2_pad2"] = () => Check(x => F.conv2d(x[0], x[1], x[2], S(1, 1), S(2, 2), S(2, 2)),
            new[] { Det(S(1, 2, 6, 6)), Det(S(3, 2, 3, 3), 0.5, 0.3), Det(S(3), 0.2, 0.4) }),
        ["conv2d_groups2"] = () => Check(x => F.conv2d(x[0], x[1], x[2], S(1, 1), S(1, 1), S(1, 1), 2),
            new[] { Det(S(2, 4, 5, 5)), Det(S(6, 2, 3, 3), 0.5, 0.5), Det(S(6), 0.2, 0.6) }),
        ["conv2d_depthwise_stride2"] = () => Check(x => F.conv2d(x[0], x[1], null, S(2, 2), S(1, 1), S(1, 1), 3),
            new[] { Det(S(2, 3, 6, 6)), Det(S(3, 1, 3, 3), 0.5, 0.7) }),
        ["linear"] = () => Check(x => F.linear(x[0], x[1], x[2]),
            new[] { Det(S(3, 5)), Det(S(4, 5), 0.5, 0.1), Det(S(4), 0.3, 0.2) }),

        // ---- batch norm ----
        ["batch_norm_train"] = () => Check(x =>
            {
                // Fresh running statistics per evaluation: training mode updates them in place.
                var mean = zeros(S(3), ScalarType.Float64);
                var var = ones(S(3), ScalarType.Float64);
                return F.batch_norm(x[0], mean, var, x[1], x[2], training: true, momentum: 0.1, eps: 1e-5);
            },
            new[] { Det(S(4, 3, 3, 3), 2.0), Det(S(3), 0.5, 0.1, 1.0), Det(S(3), 0.3, 0.2) }),
        ["batch_norm_eval"] = () => Check(x =>
                F.batch_norm(x[0], Det(S(3), 0.2, 0.3), Det(S(3), 0.5, 0.4, 1.2), x[1], x[2], training: false),
            new[] { Det(S(2, 3, 3, 3), 2.0), Det(S(3), 0.5, 0.1, 1.0), Det(S(3), 0.3, 0.2) }),

        // ---- activations ----
        ["relu"] = () => Check(x => F.relu(x[0]), new[] { Det(S(4, 15)) }),
        ["relu6"] = () => Check(x => F.relu6(x[0]), new[] { Det(S(4, 15), 8.0) }),
        ["leaky_relu"] = () => Check(x => F.leaky_relu(x[0], 0.1), new[] { Det(S(4, 15)) }),
        ["hardswish"] = () => Check(x => F.hardswish(x[0]), new[] { Det(S(4, 15), 4.5) }),
        ["hardsigmoid"] = () => Check(x => F.hardsigmoid(x[0]), new[] { Det(S(4, 15), 4.5) }),
        ["sigmoid"] = () => Check(x => F.sigmoid(x[0]), new[] { Det(S(4, 15), 3.0) }),
        ["tanh"] = () => Check(x => F.tanh(x[0]), new[] { Det(S(4, 15), 2.0) }),

        // ---- pooling and resizing ----
        ["max_pool2d_k2"] = () => Check(x => F.max_pool2d(x[0], S(2, 2)), new[] { Det(S(2, 2, 6, 6)) }),
        ["max_pool2d_k3_s2_p1"] = () => Check(x => F.max_pool2d(x[0], S(3, 3), S(2, 2), S(1, 1)), new[] { Det(S(1, 2, 7, 7)) }),
        ["avg_pool2d_k3_s2_p1"] = () => Check(x => F.avg_pool2d(x[0], S(3, 3), S(2, 2), S(1, 1)), new[] { Det(S(1, 2, 7, 7)) }),
        ["avg_pool2d_k2"] = () => Check(x => F.avg_pool2d(x[0], S(2, 2)), new[] { Det(S(2, 2, 4, 4)) }),
        ["adaptive_avg_pool2d"] = () => Check(x => F.adaptive_avg_pool2d(x[0], S(3, 3)), new[] { Det(S(2, 2, 5, 5)) }),
        ["adaptive_avg_pool2d_global"] = () => Check(x => F.adaptive_avg_pool2d(x[0], S(1, 1)), new[] { Det(S(2, 3, 4, 4)) }),
        ["interpolate_nearest"] = () => Check(x => F.interpolate(x[0], scale_factor: 2, mode: "nearest"), new[] { Det(S(1, 2, 3, 3)) }),
        ["interpolate_bilinear"] = () => Check(x => F.interpolate(x[0], scale_factor: 2, mode: "bilinear"), new[] { Det(S(1, 2, 3, 3)) }),
        ["interpolate_bilinear_size_aligned"] = () => Check(x => F.interpolate(x[0], size: S(5, 7), mode: "bilinear", align_corners: true),
            new[] { Det(S(1, 2, 3, 4)) }),

        // ---- dropout ----
        ["dropout_p0"] = () => Check(x => F.dropout(x[0], 0.0, training: true), new[] { Det(S(3, 8)) }),
        ["dropout_fixed_mask"] = () => Check(x =>
            {
                // Reseeding before every evaluation draws the same mask, so y = x·mask/(1-p) is a fixed linear map.
                manual_seed(1234);
                return F.dropout(x[0], 0.4, training: true);
            }, new[] { Det(S(3, 8)) }),

        // ---- losses ----
        ["bce_with_logits"] = () => Check(x => F.binary_cross_entropy_with_logits(x[0], x[1], Det(S(3, 4), 0.5, 0.1, 1.0),
                pos_weight: Det(S(4), 0.5, 0.2, 1.5)),
            new[] { Det(S(3, 4), 3.0), Det(S(3, 4), 0.5, 0.3, 0.5) }),
        ["cross_entropy_label_smoothing"] = () => Check(x => F.cross_entropy(x[0], tensor(new long[] { 0, 3, 1, 2, 3 }),
                Det(S(4), 0.4, 0.5, 1.0), label_smoothing: 0.1),
            new[] { Det(S(5, 4), 2.0) }),
        ["cross_entropy_probabilities"] = () => Check(x => F.cross_entropy(x[0], x[1].softmax(1), label_smoothing: 0.2),
            new[] { Det(S(3, 4), 2.0), Det(S(3, 4), 1.0, 0.6) }),
        ["mse_loss"] = () => Check(x => F.mse_loss(x[0], x[1]), new[] { Det(S(3, 5)), Det(S(3, 5), 1.0, 0.3) }),
        ["mse_loss_sum"] = () => Check(x => F.mse_loss(x[0], x[1], F.Reduction.Sum), new[] { Det(S(3, 5)), Det(S(3, 5), 1.0, 0.3) }),
        ["l1_loss"] = () => Check(x => F.l1_loss(x[0], x[1]), new[] { Det(S(3, 5)), Det(S(3, 5), 1.0, 0.3) }),
        ["smooth_l1_loss"] = () => Check(x => F.smooth_l1_loss(x[0], x[1], F.Reduction.Mean, beta: 0.5),
            new[] { Det(S(3, 5)), Det(S(3, 5), 1.0, 0.3) }),
        ["kl_div"] = () => Check(x => F.kl_div(x[0].log_softmax(1), x[1].softmax(1), F.Reduction.Sum),
            new[] { Det(S(3, 5)), Det(S(3, 5), 1.0, 0.3) }),
        ["kl_div_log_target"] = () => Check(x => F.kl_div(x[0], x[1], F.Reduction.Mean, log_target: true),
            new[] { Det(S(3, 5), 1.0, 0, -2.0), Det(S(3, 5), 1.0, 0.3, -2.0) }),

        // ---- tensor operations ----
        ["exp"] = () => Check(x => x[0].exp(), new[] { Det(S(3, 4), 2.0) }),
        ["log"] = () => Check(x => x[0].log(), new[] { Det(S(3, 4), 1.0, 0, 1.5) }),
        ["softmax"] = () => Check(x => x[0].softmax(1), new[] { Det(S(3, 4), 2.0) }),
        ["log_softmax"] = () => Check(x => x[0].log_softmax(0), new[] { Det(S(3, 4), 2.0) }),
        ["matmul_2d"] = () => Check(x => x[0].matmul(x[1]), new[] { Det(S(3, 4)), Det(S(4, 2), 1.0, 0.4) }),
        ["matmul_batched_broadcast"] = () => Check(x => x[0].matmul(x[1]), new[] { Det(S(2, 3, 4)), Det(S(4, 5), 1.0, 0.4) }),
        ["sum_dim"] = () => Check(x => x[0].sum(1), new[] { Det(S(3, 4, 2)) }),
        ["mean_dims"] = () => Check(x => x[0].mean(new long[] { 0, 2 }, keepdim: true), new[] { Det(S(3, 4, 2)) }),
        ["norm_p2"] = () => Check(x => x[0].norm(), new[] { Det(S(3, 4)) }),
        ["norm_p3_dim"] = () => Check(x => x[0].norm(3, new long[] { 1 }), new[] { Det(S(3, 4)) }),
        ["pow_scalar"] = () => Check(x => x[0].pow(2.5), new[] { Det(S(3, 4), 1.0, 0, 2.0) }),
        ["pow_tensor"] = () => Check(x => x[0].pow(x[1]), new[] { Det(S(3, 4), 1.0, 0, 2.0), Det(S(3, 4), 1.0, 0.2) }),
        ["div"] = () => Check(x => x[0].div(x[1]), new[] { Det(S(3, 4)), Det(S(3, 4), 1.0, 0.2, 2.5) }),
        ["cat"] = () => Check(x => cat(new[] { x[0], x[1] }, 1), new[] { Det(S(2, 3)), Det(S(2, 2), 1.0, 0.3) }),
        ["gather"] = () => Check(x => x[0].gather(1, tensor(new long[] { 0, 2, 2, 1, 3, 3, 0, 0 }, 2, 4)), new[] { Det(S(2, 4)) }),
        ["index_select"] = () => Check(x => x[0].index_select(0, tensor(new long[] { 2, 0, 2 })), new[] { Det(S(3, 4)) }),
    };

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void GradientMatchesFiniteDifferences(string name)
    {
        using var _ = enable_grad();
        Cases[name]();
    }

    [Fact]
    public void DropoutGradientIsTheMaskScaled()
    {
        using var scope = NewDisposeScope();
        var x = Det(S(6, 10), 1.0, 0, 3.0).requires_grad_();
        var y = F.dropout(x, 0.5, training: true);
        y.sum().backward();
        var xs = x.data<double>();
        var ys = y.data<double>();
        var g = x.grad!.data<double>();
        int dropped = 0;
        for (int i = 0; i < xs.Length; i++)
        {
            // x is far from zero, so y == 0 exactly when the element was dropped.
            bool kept = ys[i] != 0;
            if (!kept) dropped++;
            Assert.Equal(kept ? xs[i] * 2 : 0, ys[i], 12);
            Assert.Equal(kept ? 2.0 : 0.0, g[i], 12);
        }
        Assert.InRange(dropped, 10, 50);
    }

    [Fact]
    public void DropoutInEvalModeIsIdentity()
    {
        using var scope = NewDisposeScope();
        var x = Det(S(4, 5));
        Assert.True(F.dropout(x, 0.5, training: false).equal(x));
    }
}
