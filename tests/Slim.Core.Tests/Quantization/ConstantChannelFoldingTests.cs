using Slim.Compression.Quantization;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Quantization;

/// <summary>
/// Regression: a BN channel with running variance ≈ 0 (constant on the training data) folded into
/// weights up to γ/√ε larger; quantizing the next layer's input then amplified single rounding
/// differences a thousandfold and the INT8 ONNX model of the quick start lost almost all its AP.
/// </summary>
public class ConstantChannelFoldingTests
{
    [Fact]
    public void ConstantChannelFoldsToZeroWeightAndBetaWhileOthersFoldExactly()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var bn = new BatchNorm2d(3);
        bn.running_mean.copy_(tensor(new float[] { 0.5f, 2f, -1f }));
        bn.running_var.copy_(tensor(new float[] { 0.8f, 1e-12f, 2f }));
        bn.weight.copy_(tensor(new float[] { 1.5f, 3f, 0.5f }));
        bn.bias.copy_(tensor(new float[] { 0.1f, 0.7f, -0.2f }));
        bn.eval();
        var w = randn(new long[] { 3, 2, 3, 3 }, new Generator(1));
        var (fw, fb) = BatchNormFolding.Fold(w, null, bn);

        // Channel 1 is constant: zero weight, bias beta.
        Assert.Equal(0f, fw[1].abs().max().item<float>());
        Assert.Equal(0.7f, fb[1].item<float>(), 6);
        // Channels 0 and 2 fold exactly: conv + BN equals the folded conv.
        var x = randn(new long[] { 1, 2, 5, 5 }, new Generator(2));
        var reference = bn.call(nn.functional.conv2d(x, w));
        var folded = nn.functional.conv2d(x, fw, fb);
        foreach (var c in new long[] { 0, 2 })
            Assert.True(reference.select(1, c).allclose(folded.select(1, c), 1e-5, 1e-5), $"channel {c}");
        // The constant channel's folded output is what BN gives for an input at its running mean.
        Assert.True(folded.select(1, 1).sub(0.7).abs().max().item<float>() < 1e-6);
        bn.Dispose();
    }
}
