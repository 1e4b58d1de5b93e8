using Slim.Torch;
using Slim.Torch.Modules;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Models;

/// <summary>
/// Fast-SCNN (Poudel et al. 2019) with PaddleSeg's structure and parameter names (paddleseg/models/fast_scnn.py):
/// <c>learning_to_downsample</c> (3×3/2 conv 32, two separable convs /2 to 48 and 64), <c>global_feature_extractor</c>
/// (three stages of three inverted bottlenecks, expansion 6: 64 /2, 96 /2, 128, then the pyramid pooling module over bins
/// 1, 2, 3, 6 with channels/4 each), <c>feature_fusion</c> (the low-resolution branch upsampled, depthwise 3×3, 1×1, added
/// to the 1×1 of the high-resolution branch, ReLU) and <c>classifier</c> (two separable convs, 1×1 conv with bias to the
/// classes), upsampled bilinearly to the input size. Returns [N, classes, H, W] logits.
/// </summary>
/// <remarks>
/// Differences from PaddleSeg, none changing shapes, parameter layout of the convs or FLOPs beyond biases: convs pad
/// symmetrically (PaddleSeg's 'same' padding is asymmetric at stride 2 on even sizes), the convs before a batch norm have
/// no bias (the norm's offset absorbs it), dropout (training only) and the auxiliary head are left out.
/// </remarks>
public sealed class FastScnn : torch.nn.Module<Tensor, Tensor>
{
    private static readonly (int Out, int Stride)[] Stages = [(64, 2), (96, 2), (128, 1)];

    /// <summary>Builds the network; overrides in <paramref name="plan"/> set conv widths (pruning).</summary>
    public FastScnn(ChannelPlan plan, int numClasses, int inChannels = 3) : base("FastScnn")
    {
        NumClasses = numClasses;
        var down = new Sequential(Array.Empty<torch.nn.Module<Tensor, Tensor>>());
        var ltd = plan.Scope("learning_to_downsample");
        var stem = Backbone.Unit(ltd, "conv_bn_relu", inChannels, 32, 3, 2, ActivationKind.ReLU);
        var ds1 = new SeparableConv(ltd.Scope("dsconv_bn_relu1"), Backbone.Width(stem), 48, 2);
        var ds2 = new SeparableConv(ltd.Scope("dsconv_bn_relu2"), ds1.OutChannels, 64, 2);
        down.Add("conv_bn_relu", stem);
        down.Add("dsconv_bn_relu1", ds1);
        down.Add("dsconv_bn_relu2", ds2);
        register_module("learning_to_downsample", down);
        HighChannels = ds2.OutChannels;

        var gfe = new GlobalFeatureExtractor(plan.Scope("global_feature_extractor"), HighChannels);
        register_module("global_feature_extractor", gfe);
        var fusion = new FeatureFusion(plan.Scope("feature_fusion"), HighChannels, gfe.OutChannels, 128);
        register_module("feature_fusion", fusion);
        var head = new Sequential(Array.Empty<torch.nn.Module<Tensor, Tensor>>());
        var cls = plan.Scope("classifier");
        var d1 = new SeparableConv(cls.Scope("dsconv1"), fusion.OutChannels, 128, 1);
        var d2 = new SeparableConv(cls.Scope("dsconv2"), d1.OutChannels, 128, 1);
        plan.Fixed("classifier.conv", numClasses, "the classifier's conv gives one map per class");
        head.Add("dsconv1", d1);
        head.Add("dsconv2", d2);
        head.Add("conv", new Conv2d(d2.OutChannels, numClasses, 1, bias: true, weightName: "weights", biasName: "bias"));
        register_module("classifier", head);
    }

    /// <summary>Classes (output maps).</summary>
    public int NumClasses { get; }

    /// <summary>Why a width multiplier cannot be built (Fast-SCNN has one published width), or null for 1.</summary>
    public static string? WidthProblem(double width) => width == 1 ? null
        : $"model option width = {width.ToString(System.Globalization.CultureInfo.InvariantCulture)}: fast_scnn is built at its published width only; set 1 and prune it to make it smaller";

    /// <summary>Channels of the high-resolution branch (learning to downsample), as built.</summary>
    public int HighChannels { get; }

    private torch.nn.Module<Tensor, Tensor> Layer(string path) => (torch.nn.Module<Tensor, Tensor>)get_submodule(path);

    public override Tensor forward(Tensor x)
    {
        var high = Layer("learning_to_downsample").call(x);
        var low = Layer("global_feature_extractor").call(high);
        var fused = ((FeatureFusion)get_submodule("feature_fusion")).Fuse(high, low);
        var logits = Layer("classifier").call(fused);
        return F.interpolate(logits, new[] { x.shape[2], x.shape[3] }, mode: "bilinear", align_corners: false);
    }

    /// <summary>PaddleSeg's SeparableConvBNReLU: depthwise 3×3 ConvBN (no activation), then pointwise ConvBN with ReLU.</summary>
    private sealed class SeparableConv : torch.nn.Module<Tensor, Tensor>
    {
        public SeparableConv(ChannelPlan plan, int inChannels, int defaultOut, int stride) : base("SeparableConv")
        {
            var dw = Backbone.Depthwise(plan, "depthwise_conv", inChannels, 3, stride, null);
            var pw = Backbone.Unit(plan, "piontwise_conv", inChannels, defaultOut, 1, 1, ActivationKind.ReLU); // PaddleSeg's spelling
            register_module("depthwise_conv", dw);
            register_module("piontwise_conv", pw);
            OutChannels = Backbone.Width(pw);
        }

        public int OutChannels { get; }

        public override Tensor forward(Tensor x) =>
            ((ConvBN)get_submodule("piontwise_conv")).call(((ConvBN)get_submodule("depthwise_conv")).call(x));
    }

    /// <summary>Expansion 1×1 (ReLU), depthwise 3×3 (ReLU), linear 1×1 as <c>block.0/1/2</c>, plus the input where shapes allow.</summary>
    private sealed class InvertedBottleneck : torch.nn.Module<Tensor, Tensor>
    {
        private readonly bool _residual;

        public InvertedBottleneck(ChannelPlan plan, int inChannels, int defaultIn, int defaultOut, int stride) : base("InvertedBottleneck")
        {
            var block = new Sequential(Array.Empty<torch.nn.Module<Tensor, Tensor>>());
            var expand = Backbone.Unit(plan, "block.0", inChannels, defaultIn * 6, 1, 1, ActivationKind.ReLU);
            var dw = Backbone.Depthwise(plan, "block.1", Backbone.Width(expand), 3, stride, ActivationKind.ReLU);
            var linear = Backbone.Unit(plan, "block.2", Backbone.Width(expand), defaultOut, 1, 1, null);
            block.Add("0", expand);
            block.Add("1", dw);
            block.Add("2", linear);
            register_module("block", block);
            OutChannels = Backbone.Width(linear);
            _residual = stride == 1 && defaultIn == defaultOut;
            if (_residual)
            {
                Backbone.CheckResidual(plan, "block.2", inChannels, OutChannels);
                register_module("add", new Add());
            }
        }

        public int OutChannels { get; }

        public override Tensor forward(Tensor x)
        {
            var y = ((Sequential)get_submodule("block")).call(x);
            return _residual ? ((torch.nn.Module<Tensor[], Tensor>)get_submodule("add")).call([x, y]) : y;
        }
    }

    /// <summary>bottleneck1/2/3 (three inverted bottlenecks each) and the pyramid pooling module <c>ppm</c>.</summary>
    private sealed class GlobalFeatureExtractor : torch.nn.Module<Tensor, Tensor>
    {
        public GlobalFeatureExtractor(ChannelPlan plan, int inChannels) : base("GlobalFeatureExtractor")
        {
            int c = inChannels, defaultIn = 64;
            for (int s = 0; s < Stages.Length; s++)
            {
                var stage = new Sequential(Array.Empty<torch.nn.Module<Tensor, Tensor>>());
                for (int b = 0; b < 3; b++)
                {
                    var unit = new InvertedBottleneck(plan.Scope($"bottleneck{s + 1}.{b}"), c, defaultIn, Stages[s].Out, b == 0 ? Stages[s].Stride : 1);
                    stage.Add(b.ToString(System.Globalization.CultureInfo.InvariantCulture), unit);
                    c = unit.OutChannels;
                    defaultIn = Stages[s].Out;
                }
                register_module($"bottleneck{s + 1}", stage);
            }
            var ppm = new PyramidPooling(plan.Scope("ppm"), c, 128);
            register_module("ppm", ppm);
            OutChannels = ppm.OutChannels;
        }

        public int OutChannels { get; }

        public override Tensor forward(Tensor x)
        {
            foreach (var name in new[] { "bottleneck1", "bottleneck2", "bottleneck3", "ppm" })
                x = ((torch.nn.Module<Tensor, Tensor>)get_submodule(name)).call(x);
            return x;
        }
    }

    /// <summary>
    /// PSPNet's pyramid pooling as PaddleSeg's PPModule: for bins 1, 2, 3, 6 an adaptive average pool and a 1×1 ConvBN-ReLU
    /// to a quarter of the channels (<c>stages.i.1</c>), each upsampled (bilinear, corners aligned) and concatenated after
    /// the input in reverse bin order, then a 3×3 ConvBN-ReLU (<c>conv_bn_relu2</c>).
    /// </summary>
    private sealed class PyramidPooling : torch.nn.Module<Tensor, Tensor>
    {
        private static readonly int[] Bins = [1, 2, 3, 6];

        public PyramidPooling(ChannelPlan plan, int inChannels, int defaultOut) : base("PyramidPooling")
        {
            var stages = new ModuleList<Sequential>();
            int concat = inChannels;
            for (int i = 0; i < Bins.Length; i++)
            {
                var conv = Backbone.Unit(plan, $"stages.{i}.1", inChannels, 128 / Bins.Length, 1, 1, ActivationKind.ReLU);
                var stage = new Sequential(Array.Empty<torch.nn.Module<Tensor, Tensor>>());
                stage.Add("0", new AdaptiveAvgPool2d(Bins[i]));
                stage.Add("1", conv);
                stages.Add(stage);
                concat += Backbone.Width(conv);
            }
            register_module("stages", stages);
            register_module("cat", new Concat());
            var out_ = Backbone.Unit(plan, "conv_bn_relu2", concat, defaultOut, 3, 1, ActivationKind.ReLU);
            register_module("conv_bn_relu2", out_);
            OutChannels = Backbone.Width(out_);
        }

        public int OutChannels { get; }

        public override Tensor forward(Tensor x)
        {
            var size = new[] { x.shape[2], x.shape[3] };
            var pooled = new List<Tensor>();
            for (int i = 0; i < Bins.Length; i++)
                pooled.Add(F.interpolate(((Sequential)get_submodule($"stages.{i}")).call(x), size, mode: "bilinear", align_corners: true));
            pooled.Reverse();
            var cat = ((torch.nn.Module<Tensor[], Tensor>)get_submodule("cat")).call([x, .. pooled]);
            return ((ConvBN)get_submodule("conv_bn_relu2")).call(cat);
        }
    }

    /// <summary>PaddleSeg's FeatureFusionModule: <c>dwconv</c>, <c>conv_low_res</c>, <c>conv_high_res</c>, added, ReLU.</summary>
    private sealed class FeatureFusion : torch.nn.Module
    {
        public FeatureFusion(ChannelPlan plan, int highChannels, int lowChannels, int defaultOut) : base("FeatureFusion")
        {
            // PaddleSeg's dwconv is a depthwise ConvBNReLU (groups 128) on the low-resolution branch.
            var dw = Backbone.Depthwise(plan, "dwconv", lowChannels, 3, 1, ActivationKind.ReLU);
            var low = Backbone.Unit(plan, "conv_low_res", lowChannels, defaultOut, 1, 1, null);
            int width = Backbone.Width(low);
            int highWidth = plan.Fixed("conv_high_res.conv", width, $"it is added to '{plan.Join("conv_low_res")}' with {width} channels");
            var high = new ConvBN(highChannels, highWidth, 1, 1, 1, null);
            register_module("dwconv", dw);
            register_module("conv_low_res", low);
            register_module("conv_high_res", high);
            register_module("add", new Add());
            register_module("act", new Activation(ActivationKind.ReLU));
            OutChannels = width;
        }

        public int OutChannels { get; }

        public Tensor Fuse(Tensor high, Tensor low)
        {
            var up = F.interpolate(low, new[] { high.shape[2], high.shape[3] }, mode: "bilinear", align_corners: false);
            var l = ((ConvBN)get_submodule("conv_low_res")).call(((ConvBN)get_submodule("dwconv")).call(up));
            var h = ((ConvBN)get_submodule("conv_high_res")).call(high);
            var sum = ((torch.nn.Module<Tensor[], Tensor>)get_submodule("add")).call([h, l]);
            return ((Activation)get_submodule("act")).call(sum);
        }
    }
}
