using Slim.Compression.Pruning;
using Slim.Import;
using Slim.Models;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Models;

/// <summary>Fast-SCNN at full size (Cityscapes' 19 classes): shapes, and physical pruning through its two-branch fusion.</summary>
public class FastScnnTests
{
    [Fact]
    public void GivesLogitsAtTheInputSizeWithPaddleSegsNames()
    {
        using var scope = NewDisposeScope();
        using var net = new FastScnn(new ChannelPlan(), 19);
        net.eval();
        using var _ = no_grad();
        var y = net.call(randn(1, 3, 96, 160));
        Assert.Equal(new long[] { 1, 19, 96, 160 }, y.shape);
        var names = net.state_dict().Keys.ToHashSet();
        foreach (var name in new[]
        {
            "learning_to_downsample.conv_bn_relu.conv.weights", "learning_to_downsample.dsconv_bn_relu2.piontwise_conv.bn.scale",
            "global_feature_extractor.bottleneck3.2.block.1.conv.weights", "global_feature_extractor.ppm.stages.3.1.conv.weights",
            "global_feature_extractor.ppm.conv_bn_relu2.conv.weights", "feature_fusion.dwconv.conv.weights", "feature_fusion.conv_high_res.bn.var",
            "classifier.dsconv2.depthwise_conv.conv.weights", "classifier.conv.weights", "classifier.conv.bias",
        })
            Assert.Contains(name, names);
        // PPM: 128 + 4 × 32 channels in; the expansion of the first stage-3 bottleneck is 96 × 6.
        Assert.Equal(new long[] { 128, 256, 3, 3 }, net.state_dict()["global_feature_extractor.ppm.conv_bn_relu2.conv.weights"].shape);
        Assert.Equal(new long[] { 576, 96, 1, 1 }, net.state_dict()["global_feature_extractor.bottleneck3.0.block.0.conv.weights"].shape);
    }

    // PaddleSeg's fast_scnn.py translated to PyTorch (symmetric padding, no conv bias before a norm, as Slim's), with
    // Slim's parameter names, random weights and statistics; it saves its state dict, an input and its output.
    private const string Reference = """
        import sys
        try:
            import torch
        except ImportError:
            sys.exit(3)
        import torch.nn as nn, torch.nn.functional as F
        from collections import OrderedDict
        class CBR(nn.Module):
            def __init__(s, cin, cout, k, stride=1, groups=1, act=True):
                super().__init__()
                s.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False); s.bn = nn.BatchNorm2d(cout); s.act = act
            def forward(s, x):
                x = s.bn(s.conv(x)); return F.relu(x) if s.act else x
        class Sep(nn.Module):
            def __init__(s, cin, cout, stride):
                super().__init__(); s.depthwise_conv = CBR(cin, cin, 3, stride, cin, False); s.piontwise_conv = CBR(cin, cout, 1)
            def forward(s, x): return s.piontwise_conv(s.depthwise_conv(x))
        class IB(nn.Module):
            def __init__(s, cin, cout, stride):
                super().__init__(); e = cin * 6
                s.block = nn.Sequential(CBR(cin, e, 1), CBR(e, e, 3, stride, e), CBR(e, cout, 1, act=False)); s.res = stride == 1 and cin == cout
            def forward(s, x):
                y = s.block(x); return x + y if s.res else y
        class PPM(nn.Module):
            def __init__(s, cin, cout):
                super().__init__()
                s.stages = nn.ModuleList([nn.Sequential(nn.AdaptiveAvgPool2d(b), CBR(cin, cin // 4, 1)) for b in (1, 2, 3, 6)])
                s.conv_bn_relu2 = CBR(cin * 2, cout, 3)
            def forward(s, x):
                outs = [F.interpolate(st(x), x.shape[2:], mode="bilinear", align_corners=True) for st in s.stages]
                return s.conv_bn_relu2(torch.cat([x] + outs[::-1], 1))
        class GFE(nn.Module):
            def __init__(s):
                super().__init__()
                s.bottleneck1 = nn.Sequential(IB(64, 64, 2), IB(64, 64, 1), IB(64, 64, 1))
                s.bottleneck2 = nn.Sequential(IB(64, 96, 2), IB(96, 96, 1), IB(96, 96, 1))
                s.bottleneck3 = nn.Sequential(IB(96, 128, 1), IB(128, 128, 1), IB(128, 128, 1))
                s.ppm = PPM(128, 128)
            def forward(s, x): return s.ppm(s.bottleneck3(s.bottleneck2(s.bottleneck1(x))))
        class FFM(nn.Module):
            def __init__(s):
                super().__init__()
                s.dwconv = CBR(128, 128, 3, 1, 128); s.conv_low_res = CBR(128, 128, 1, act=False); s.conv_high_res = CBR(64, 128, 1, act=False)
            def forward(s, high, low):
                low = F.interpolate(low, high.shape[2:], mode="bilinear", align_corners=False)
                return F.relu(s.conv_high_res(high) + s.conv_low_res(s.dwconv(low)))
        class FastSCNN(nn.Module):
            def __init__(s, n):
                super().__init__()
                s.learning_to_downsample = nn.Sequential(OrderedDict(conv_bn_relu=CBR(3, 32, 3, 2), dsconv_bn_relu1=Sep(32, 48, 2), dsconv_bn_relu2=Sep(48, 64, 2)))
                s.global_feature_extractor = GFE(); s.feature_fusion = FFM()
                s.classifier = nn.Sequential(OrderedDict(dsconv1=Sep(128, 128, 1), dsconv2=Sep(128, 128, 1), conv=nn.Conv2d(128, n, 1)))
            def forward(s, x):
                h = s.learning_to_downsample(x); l = s.global_feature_extractor(h)
                return F.interpolate(s.classifier(s.feature_fusion(h, l)), x.shape[2:], mode="bilinear", align_corners=False)
        torch.manual_seed(0)
        m = FastSCNN(19).eval()
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, nn.BatchNorm2d):
                    mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5); mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
            x = torch.rand(2, 3, 96, 160)
            y = m(x)
        torch.save(m.state_dict(), "fastscnn.pth")
        torch.save({"x": x, "y": y}, "io.pth")
        """;

    [SkippableFact]
    public void ComputesWhatPaddleSegsFastScnnTranslatedToPyTorchComputes()
    {
        var dir = Directory.CreateTempSubdirectory("slim-fastscnn-").FullName;
        try
        {
            ModelChecks.RunTorchScript(dir, Reference);
            using var scope = NewDisposeScope();
            using var net = new FastScnn(new ChannelPlan(), 19);
            ModelChecks.LoadTorchState(net, dir, "fastscnn.pth", "classifier.conv");
            net.eval();
            var io = PickledWeights.Read(Path.Combine(dir, "io.pth")).ToDictionary(t => t.Name);
            using var _ = no_grad();
            ModelChecks.AssertClose(io["y"], net.call(tensor(io["x"].Values, io["x"].Shape)), "fast_scnn");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void PrunedEqualsMaskedThroughTheFusionAndRebuildsFromOverrides()
    {
        long live = Tensor.LiveCount;
        using (var scope = NewDisposeScope())
        {
            var options = new ModelOptions { NumClasses = 19, InputSize = 128 };
            var result = ModelChecks.AssertPrunedEqualsMasked(o => new FastScnn(new ChannelPlan(o.ChannelOverrides), 19), options,
                (m, x) => ((nn.Module<Tensor, Tensor>)m).call(x), 128);
            // The fusion adds the two branches: conv_low_res and conv_high_res are one group, pruned together.
            Assert.Equal(result.Options.ChannelOverrides["feature_fusion.conv_low_res.conv"], result.Options.ChannelOverrides["feature_fusion.conv_high_res.conv"]);
            Assert.True(result.Options.ChannelOverrides["feature_fusion.conv_low_res.conv"] < 128);
            Assert.InRange(1 - result.After.PaddleGFlops / result.Before.PaddleGFlops, 0.3, 0.7);
        }
        Assert.Equal(live, Tensor.LiveCount);
    }
}
