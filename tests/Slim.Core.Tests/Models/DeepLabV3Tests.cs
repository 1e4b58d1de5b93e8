using Slim.Compression.Pruning;
using Slim.Import;
using Slim.Models;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Models;

/// <summary>DeepLabv3 and DeepLabv3+ on MobileNetV2 (PaddleSeg's static model): size, names, a PyTorch translation, pruning.</summary>
public class DeepLabV3Tests
{
    [Fact]
    public void TheZooRowsModelHasItsPublishedSizeAndPaddleSegsNames()
    {
        using var scope = NewDisposeScope();
        using var v3 = ModelRegistry.CreateSegmenter("deeplabv3_mobilenet_v2", new ModelOptions { NumClasses = 19, InputSize = 769 });
        long parameters = v3.state_dict().Values.Sum(p => p.numel());
        // The compression zoo's DeepLabv3-MobileNetv2 on Cityscapes is 7.4 MB of float32 weights (batch-norm statistics included).
        Assert.InRange(parameters * 4 / 1e6, 7.3, 7.5);
        using var plus = ModelRegistry.CreateSegmenter("deeplabv3p_mobilenet_v2", new ModelOptions { NumClasses = 19, InputSize = 128 });
        var names = plus.state_dict().Keys.ToHashSet();
        foreach (var name in new[]
        {
            "backbone.conv1.conv.weights", "backbone.blocks.0.expand.conv.weights", "backbone.blocks.16.linear.bn.var",
            "encoder.image_pool.conv.weights", "encoder.aspp0.bn.scale", "encoder.aspp3.depthwise.conv.weights", "encoder.concat.conv.weights",
            "decoder.concat.conv.weights", "decoder.separable_conv2.pointwise.bn.offset", "logit.conv.weights", "logit.conv.bias",
        })
            Assert.Contains(name, names);
        Assert.DoesNotContain("backbone.conv_last.conv.weights", names);
        // The decoder's shortcut is the stride-4 stage's last depthwise output: 24 × 6 = 144 channels.
        Assert.Equal(new long[] { 48, 144, 1, 1 }, plus.state_dict()["decoder.concat.conv.weights"].shape);
        v3.eval();
        plus.eval();
        using var _ = no_grad();
        Assert.Equal(new long[] { 1, 19, 96, 128 }, v3.call(randn(1, 3, 96, 128)).shape);
        Assert.Equal(new long[] { 1, 19, 96, 128 }, plus.call(randn(1, 3, 96, 128)).shape);
    }

    // PaddleSeg's static deeplab.py and mobilenet_v2.py translated to PyTorch with Slim's parameter names: output stride 16
    // (the stride-32 stage at stride 1, no dilation), separable ASPP at 6/12/18, decoder on the stride-4 depthwise output,
    // bilinear resizes with corners aligned (fluid's default). It saves both models' state dicts, an input and outputs.
    private const string Reference = """
        import sys
        try:
            import torch
        except ImportError:
            sys.exit(3)
        import torch.nn as nn, torch.nn.functional as F
        from collections import OrderedDict
        class CBR(nn.Module):
            def __init__(s, cin, cout, k, stride=1, groups=1, act="relu", dilation=1):
                super().__init__()
                s.conv = nn.Conv2d(cin, cout, k, stride, dilation * (k - 1) // 2, dilation=dilation, groups=groups, bias=False); s.bn = nn.BatchNorm2d(cout); s.act = act
            def forward(s, x):
                x = s.bn(s.conv(x))
                return F.relu6(x) if s.act == "relu6" else F.relu(x) if s.act == "relu" else x
        class IR(nn.Module):
            def __init__(s, cin, cout, t, stride, shortcut):
                super().__init__(); e = cin * t
                s.expand = CBR(cin, e, 1, act="relu6"); s.dwise = CBR(e, e, 3, stride, e, act="relu6"); s.linear = CBR(e, cout, 1, act=None); s.res = shortcut
            def forward(s, x):
                d = s.dwise(s.expand(x)); y = s.linear(d)
                return (x + y if s.res else y), d
        class Backbone(nn.Module):
            def __init__(s):
                super().__init__()
                s.conv1 = CBR(3, 32, 3, 2, act="relu6"); blocks = []; cin = 32; stride = 2
                for t, c, n, st in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
                    stride *= st
                    if stride > 16: st = 1
                    for i in range(n):
                        blocks.append(IR(cin, c, t, st if i == 0 else 1, i > 0)); cin = c
                s.blocks = nn.ModuleList(blocks)
            def forward(s, x):
                x = s.conv1(x); short = None
                for i, b in enumerate(s.blocks):
                    x, d = b(x)
                    if i == 2: short = d
                return x, short
        class Sep(nn.Module):
            def __init__(s, cin, cout, dil):
                super().__init__(); s.depthwise = CBR(cin, cin, 3, 1, cin, dilation=dil); s.pointwise = CBR(cin, cout, 1)
            def forward(s, x): return s.pointwise(s.depthwise(x))
        class Encoder(nn.Module):
            def __init__(s, cin):
                super().__init__()
                s.image_pool = CBR(cin, 256, 1); s.aspp0 = CBR(cin, 256, 1)
                s.aspp1 = Sep(cin, 256, 6); s.aspp2 = Sep(cin, 256, 12); s.aspp3 = Sep(cin, 256, 18); s.concat = CBR(1280, 256, 1)
            def forward(s, x):
                p = F.interpolate(s.image_pool(x.mean((2, 3), keepdim=True)), x.shape[2:], mode="bilinear", align_corners=True)
                return s.concat(torch.cat([p, s.aspp0(x), s.aspp1(x), s.aspp2(x), s.aspp3(x)], 1))
        class Decoder(nn.Module):
            def __init__(s):
                super().__init__(); s.concat = CBR(144, 48, 1); s.separable_conv1 = Sep(304, 256, 1); s.separable_conv2 = Sep(256, 256, 1)
            def forward(s, x, short):
                short = s.concat(short)
                x = F.interpolate(x, short.shape[2:], mode="bilinear", align_corners=True)
                return s.separable_conv2(s.separable_conv1(torch.cat([x, short], 1)))
        class DeepLab(nn.Module):
            def __init__(s, n, plus):
                super().__init__(); s.plus = plus; s.backbone = Backbone()
                if plus: s.encoder = Encoder(320); s.decoder = Decoder()
                s.logit = nn.Sequential(OrderedDict(conv=nn.Conv2d(256 if plus else 320, n, 1)))
            def forward(s, x):
                y, short = s.backbone(x)
                if s.plus: y = s.decoder(s.encoder(y), short)
                return F.interpolate(s.logit(y), x.shape[2:], mode="bilinear", align_corners=True)
        torch.manual_seed(0)
        x = torch.rand(2, 3, 96, 128)
        out = {"x": x}
        for plus in (False, True):
            m = DeepLab(19, plus).eval()
            with torch.no_grad():
                for mod in m.modules():
                    if isinstance(mod, nn.BatchNorm2d):
                        mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5); mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
                    if isinstance(mod, nn.Conv2d):
                        nn.init.kaiming_normal_(mod.weight)
                out["plus" if plus else "v3"] = m(x)
            torch.save(m.state_dict(), "plus.pth" if plus else "v3.pth")
        torch.save(out, "io.pth")
        """;

    [SkippableFact]
    public void ComputesWhatPaddleSegsDeepLabTranslatedToPyTorchComputes()
    {
        var dir = Directory.CreateTempSubdirectory("slim-deeplab-").FullName;
        try
        {
            ModelChecks.RunTorchScript(dir, Reference);
            using var scope = NewDisposeScope();
            var io = PickledWeights.Read(Path.Combine(dir, "io.pth")).ToDictionary(t => t.Name);
            var x = tensor(io["x"].Values, io["x"].Shape);
            foreach (var (arch, key) in new[] { ("deeplabv3_mobilenet_v2", "v3"), ("deeplabv3p_mobilenet_v2", "plus") })
            {
                using var net = ModelRegistry.CreateSegmenter(arch, new ModelOptions { NumClasses = 19, InputSize = 128 });
                ModelChecks.LoadTorchState(net, dir, key + ".pth", "logit.conv");
                net.eval();
                using var _ = no_grad();
                ModelChecks.AssertClose(io[key], net.call(x), arch);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("deeplabv3_mobilenet_v2")]
    [InlineData("deeplabv3p_mobilenet_v2")]
    public void PrunedEqualsMaskedThroughAsppAndDecoderAndRebuildsFromOverrides(string arch)
    {
        long live = Tensor.LiveCount;
        using (var scope = NewDisposeScope())
            ModelChecks.AssertPrunedEqualsMasked(o => ModelRegistry.CreateSegmenter(arch, o), new ModelOptions { NumClasses = 19, InputSize = 96 },
                (m, x) => ((nn.Module<Tensor, Tensor>)m).call(x), 96);
        Assert.Equal(live, Tensor.LiveCount);
    }
}
