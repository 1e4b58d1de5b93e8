using Slim.Compression.Pruning;
using Slim.Compression.Pruning.Importance;
using Slim.Compression.Quantization;
using Slim.Core.Tests.Pruning;
using Slim.Detection;
using Slim.Models;
using Slim.Pipeline;
using Slim.Tasks.Ssd;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Models;

/// <summary>SSDLite on MobileNetV3 as PaddleDetection builds it: maps, outputs, names, pruning, the zoo's not_quant pattern, decoding.</summary>
public class SsdLiteTests
{
    [Theory]
    [InlineData("ssdlite_mobilenet_v3_large", new[] { 672, 480, 512, 256, 256, 128 })]
    [InlineData("ssdlite_mobilenet_v3_small", new[] { 288, 288, 512, 256, 256, 128 })]
    public void SixMapsOfPaddleDetectionsWidthsGive2434PriorsAt320(string arch, int[] channels)
    {
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.CreateSsd(arch, new ModelOptions { NumClasses = 80, InputSize = 320 });
        model.eval();
        using var _ = no_grad();
        var x = randn(2, 3, 320, 320);
        var maps = model.Features(x);
        Assert.Equal(channels, maps.Select(m => (int)m.shape[1]));
        Assert.Equal(new long[] { 20, 10, 5, 3, 2, 1 }, maps.Select(m => m.shape[2]));
        var outs = model.call(x);
        Assert.Equal(new long[] { 2, 2434, 4 }, outs[0].shape);
        Assert.Equal(new long[] { 2, 2434, 81 }, outs[1].shape);
        Assert.Equal(2434 * 4, SsdTask.Priors(arch, new ModelOptions { NumClasses = 80, InputSize = 320 }).Length);
        // The head's first map sees the expansion inside the unit that leaves stride 16, before its depthwise conv.
        var names = model.state_dict().Keys.ToHashSet();
        foreach (var n in new[] { "backbone.blocks.3.res_conv1.conv.weights", "backbone.conv_last.conv.weights", "extra_blocks.3.depthwise_conv.conv.weights",
                     "head.boxes0.dw_conv.bn.scale", "head.scores5.pw_conv.weights" })
            Assert.Contains(n, names);
        Assert.Contains(names, k => k.Contains(".se_block.", StringComparison.Ordinal));
    }

    [Fact]
    public void PrunedEqualsMaskedThroughTheExtraBlocksAndHeadsOfTheFullSizeLargeModel()
    {
        long live = Tensor.LiveCount;
        using (var scope = NewDisposeScope())
        {
            var result = ModelChecks.AssertPrunedEqualsMasked(o => ModelRegistry.CreateSsd("ssdlite_mobilenet_v3_large", o), new ModelOptions { NumClasses = 80, InputSize = 320 },
                (m, x) => torch.cat(SsdFamily.Instance.Forward(m, x).Select(t => t.flatten()).ToArray()), 320,
                graph => PruningRatios.ExpandParameters(string.Join(",", SsdFamily.Instance.DefaultPrunedParameters), graph).Select(p => new PruneTarget(p, 0.3)).ToList(),
                (m, x) => SsdFamily.Instance.Forward(m, x));
            // The extra blocks' depthwise convs (channel multiplier 2) follow their pruned inputs.
            using (var rebuilt = ModelRegistry.CreateSsd("ssdlite_mobilenet_v3_large", result.Options))
                Assert.Equal(2 * result.Options.ChannelOverrides["extra_blocks.0.pointwise_conv.conv"],
                    (int)((Conv2d)rebuilt.get_submodule("extra_blocks.0.depthwise_conv.conv")).out_channels);
            Assert.True(result.Options.ChannelOverrides["extra_blocks.0.pointwise_conv.conv"] < 256);
            Assert.InRange(1 - result.After.PaddleGFlops / result.Before.PaddleGFlops, 0.15, 0.6);
        }
        Assert.Equal(live, Tensor.LiveCount);
    }

    [Fact]
    public void TheMobileZoosNotQuantPatternKeepsEveryDepthwiseResidualConvAndSeBlockFloat()
    {
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.CreateSsd("ssdlite_mobilenet_v3_large", new ModelOptions { NumClasses = 80, InputSize = 320 });
        var plan = LayerSelector.Select(model, new QuantizationOptions { NotQuant = ["res_conv1", "se_block"], OutputPatterns = SsdFamily.Instance.OutputLayers },
            x => SsdFamily.Instance.Forward(model, x), randn(1, 3, 320, 320));
        var convs = model.named_modules().Where(m => m.module is Conv2d).Select(m => m.name).ToList();
        Assert.Equal(convs.Count, plan.Layers.Count);
        foreach (var l in plan.Layers)
        {
            bool pattern = l.Path.Contains("res_conv1", StringComparison.Ordinal) || l.Path.Contains("se_block", StringComparison.Ordinal);
            bool output = l.Path.EndsWith("pw_conv", StringComparison.Ordinal);
            Assert.True(l.Quantized == !(pattern || output), $"{l.Path}: quantized {l.Quantized} ({l.Reason})");
        }
        // 15 depthwise convs and 8 SE blocks (two convs each) in the large model stay float; the extra blocks' depthwise convs do not match.
        Assert.Equal(15, plan.Layers.Count(l => l.Reason == "not_quant pattern 'res_conv1'"));
        Assert.Equal(16, plan.Layers.Count(l => l.Reason == "not_quant pattern 'se_block'"));
        Assert.True(plan.Find("extra_blocks.0.depthwise_conv.conv")!.Quantized);
    }

    [Fact]
    public void DecodingGivesTheHandComputedBoxAndScoreInImagePixels()
    {
        // One prior centred (0.4, 0.3), 0.4 × 0.2; deltas (2.5, 2.5, ln 2 / 0.2, 0): centre (0.5, 0.35), 0.8 × 0.2.
        float[] priors = [0.2f, 0.2f, 0.6f, 0.4f];
        float[] deltas = [2.5f, 2.5f, (float)(Math.Log(2) / 0.2), 0f];
        // Two classes and background (last): softmax of (2, 0, 1).
        float[] logits = [2f, 0f, 1f];
        var dets = new SsdDecoder(priors, 2).Decode(7, deltas, logits, 200, 100);
        double e2 = Math.Exp(2), sum = e2 + 1 + Math.E;
        var best = dets.OrderByDescending(d => d.Score).First();
        Assert.Equal(0, best.ClassId);
        Assert.Equal(7, best.ImageId);
        Assert.Equal(e2 / sum, best.Score, 5);
        Assert.Equal(new[] { 20f, 25f, 180f, 45f }, new[] { best.X1, best.Y1, best.X2, best.Y2 }.Select(v => MathF.Round(v, 3)));
        // Class 1 scores 1/sum = 0.09 > 0.01: kept too; the background is never a detection.
        Assert.Equal(2, dets.Count);
        Assert.Equal(1 / sum, dets.Single(d => d.ClassId == 1).Score, 5);
    }

    [Fact]
    public void InGraphDecodingAndNmsGiveTheDetectionsOfTheDecoder()
    {
        using var scope = NewDisposeScope();
        var options = new ModelOptions { NumClasses = 3, InputSize = 96 };
        using var model = ModelRegistry.CreateSsd("ssdlite_mobilenet_v3_small", options);
        var g = new Generator(3);
        using (no_grad())
            foreach (var (_, m) in model.named_modules())
            {
                if (m is BatchNorm2d bn) Slim.Core.Tests.Export.ExportTestSupport.Randomize(bn, g);
                if (m is Conv2d conv) conv.weight.copy_(randn(conv.weight.shape, g) * Math.Sqrt(2.0 / (conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3])));
            }
        model.eval();
        var dir = Directory.CreateTempSubdirectory("slim-ssd-post-").FullName;
        try
        {
            var path = Path.Combine(dir, "post.onnx");
            var export = SsdFamily.Instance.ExportOptions("ssdlite_mobilenet_v3_small", options, new Slim.Tasks.ExportModelInfo(null, 96, "t"),
                new Slim.Recipes.ExportSection { Postprocess = true });
            Slim.Export.OnnxExporter.ExportToFile(model, path, export, x => SsdFamily.Instance.Forward(model, x));
            var x = randn(new long[] { 2, 3, 96, 96 }, g);
            var detector = Slim.Tasks.Detection.OnnxDetector.Open(path);
            Assert.True(detector.HasPostprocess);
            var infos = Enumerable.Range(0, 2).Select(i => new Slim.Data.ImageInfo(i, "", 192, 96, 96, 96)).ToList(); // originals twice as wide
            var ort = detector.Detections(Slim.Export.OrtRunner.Create().Run(path, detector.Inputs(x, infos)), infos, null);
            var priors = SsdTask.Priors("ssdlite_mobilenet_v3_small", options);
            var decoder = new SsdDecoder(priors, 3);
            Tensor[] outs;
            using (no_grad()) outs = model.call(x);
            var deltas = outs[0].data<float>().ToArray();
            var logits = outs[1].data<float>().ToArray();
            int p = priors.Length / 4;
            for (int i = 0; i < 2; i++)
            {
                var want = decoder.Decode(i, deltas.AsSpan(i * p * 4, p * 4), logits.AsSpan(i * p * (3 + 1), p * (3 + 1)), 192, 96).OrderByDescending(d => d.Score).ToList();
                var got = ort[i].OrderByDescending(d => d.Score).ToList();
                Assert.True(want.Count > 5, $"only {want.Count} detections to compare");
                Assert.Equal(want.Count, got.Count);
                for (int k = 0; k < want.Count; k++)
                {
                    Assert.Equal(want[k].ClassId, got[k].ClassId);
                    Assert.Equal(want[k].Score, got[k].Score, 1e-4);
                    Assert.Equal(want[k].X1, got[k].X1, 0.01);
                    Assert.Equal(want[k].Y1, got[k].Y1, 0.01);
                    Assert.Equal(want[k].X2, got[k].X2, 0.01);
                    Assert.Equal(want[k].Y2, got[k].Y2, 0.01);
                }
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
