using Slim.Torch;
using Slim.Torch.Modules;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Models;

/// <summary>
/// DeepLabv3 / DeepLabv3+ on MobileNetV2 as PaddleSeg's static-graph model (pdseg/models/modeling/deeplab.py, the model
/// of the PaddleSlim/PaddleX compression zoo): the <c>backbone</c> is MobileNetV2 in Paddle's layout at output stride 16
/// (the stride-32 stage keeps stride 1, without dilation), its 17 inverted residuals and no 1280 conv. Without the
/// "plus" (<c>deeplabv3_mobilenet_v2</c>, the zoo's "DeepLabv3-MobileNetv2" with ENCODER_WITH_ASPP and ENABLE_DECODER
/// off) a 1×1 <c>logit</c> conv with bias maps the 320 channels to the classes. With it (<c>deeplabv3p_mobilenet_v2</c>,
/// PaddleSeg's defaults) the <c>encoder</c> (ASPP: image pooling, a 1×1 branch and three separable 3×3 branches at
/// dilations 6, 12, 18, 256 channels each, concatenated and fused by a 1×1 to 256) and the <c>decoder</c> (the
/// depthwise output of the stride-4 stage's last block, 1×1 to 48, concatenated with the upsampled encoder output,
/// two separable 3×3 convs of 256) come before it. The logits are resized to the input (bilinear, corners aligned,
/// as fluid's resize_bilinear). Returns [N, classes, H, W].
/// </summary>
/// <remarks>Left out: the encoder's dropout (training only). Convs before a batch norm have no bias.</remarks>
public sealed class DeepLabV3 : torch.nn.Module<Tensor, Tensor>
{
    private const int AsppChannels = 256;
    private const int ShortcutChannels = 48;

    // The decoder's shortcut: the depthwise output of the last block at stride 4 (PaddleSeg's decode point 4).
    private const int ShortcutBlock = 2;

    private readonly bool _plus;

    /// <summary>Builds the network; overrides in <paramref name="plan"/> set conv widths (pruning).</summary>
    public DeepLabV3(ChannelPlan plan, int numClasses, int inChannels, double width, bool plus) : base(plus ? "DeepLabV3Plus" : "DeepLabV3")
    {
        _plus = plus;
        NumClasses = numClasses;
        var backbone = new MobileNetV2(plan.Scope("backbone"), inChannels, width, ModelLayout.Paddle, outputStride: 16, lastConv: false);
        register_module("backbone", backbone);
        int c = backbone.OutChannels[2];
        if (plus)
        {
            var encoder = new Aspp(plan.Scope("encoder"), c);
            register_module("encoder", encoder);
            int shortcut = ((InvertedResidual)backbone.get_submodule($"blocks.{ShortcutBlock}")).HiddenChannels;
            var decoder = new Decoder(plan.Scope("decoder"), encoder.OutChannels, shortcut);
            register_module("decoder", decoder);
            c = decoder.OutChannels;
        }
        plan.Fixed("logit.conv", numClasses, "the logit conv gives one map per class");
        var logit = new Sequential(Array.Empty<torch.nn.Module<Tensor, Tensor>>());
        logit.Add("conv", new Conv2d(c, numClasses, 1, bias: true, weightName: "weights", biasName: "bias"));
        register_module("logit", logit);
    }

    /// <summary>Classes (output maps).</summary>
    public int NumClasses { get; }

    public override Tensor forward(Tensor x)
    {
        var backbone = (MobileNetV2)get_submodule("backbone");
        var y = ((ConvBN)backbone.get_submodule("conv1")).call(x);
        Tensor? shortcut = null;
        var blocks = (ModuleList<torch.nn.Module>)backbone.get_submodule("blocks");
        for (int i = 0; i < blocks.Count; i++)
        {
            var block = (InvertedResidual)blocks[i];
            if (i == ShortcutBlock && _plus) y = block.Forward(y, out shortcut);
            else y = block.call(y);
        }
        if (_plus)
        {
            y = ((Aspp)get_submodule("encoder")).call(y);
            y = ((Decoder)get_submodule("decoder")).Fuse(y, shortcut!);
        }
        var logits = ((Sequential)get_submodule("logit")).call(y);
        return F.interpolate(logits, new[] { x.shape[2], x.shape[3] }, mode: "bilinear", align_corners: true);
    }

    /// <summary>PaddleSeg's separate_conv: depthwise 3×3 (dilated) ConvBN-ReLU, then pointwise 1×1 ConvBN-ReLU.</summary>
    private sealed class SeparableConv : torch.nn.Module<Tensor, Tensor>
    {
        public SeparableConv(ChannelPlan plan, int inChannels, int defaultOut, int dilation) : base("SeparableConv")
        {
            plan.Fixed("depthwise.conv", inChannels, $"a depthwise conv keeps its {inChannels} input channels");
            var dw = new ConvBN(inChannels, inChannels, 3, 1, inChannels, ActivationKind.ReLU, dilation: dilation);
            var pw = Backbone.Unit(plan, "pointwise", inChannels, defaultOut, 1, 1, ActivationKind.ReLU);
            register_module("depthwise", dw);
            register_module("pointwise", pw);
            OutChannels = Backbone.Width(pw);
        }

        public int OutChannels { get; }

        public override Tensor forward(Tensor x) => ((ConvBN)get_submodule("pointwise")).call(((ConvBN)get_submodule("depthwise")).call(x));
    }

    /// <summary>
    /// ASPP as PaddleSeg's encoder: <c>image_pool</c> (global mean, 1×1 ConvBN-ReLU, resized back), <c>aspp0</c> (1×1),
    /// <c>aspp1/2/3</c> (separable 3×3 at dilations 6, 12, 18), concatenated (<c>cat</c>) and fused by <c>concat</c> (1×1).
    /// </summary>
    private sealed class Aspp : torch.nn.Module<Tensor, Tensor>
    {
        private static readonly int[] Dilations = [6, 12, 18];

        public Aspp(ChannelPlan plan, int inChannels) : base("Aspp")
        {
            var pool = Backbone.Unit(plan, "image_pool", inChannels, AsppChannels, 1, 1, ActivationKind.ReLU);
            var aspp0 = Backbone.Unit(plan, "aspp0", inChannels, AsppChannels, 1, 1, ActivationKind.ReLU);
            register_module("image_pool", pool);
            register_module("aspp0", aspp0);
            int concat = Backbone.Width(pool) + Backbone.Width(aspp0);
            for (int i = 0; i < Dilations.Length; i++)
            {
                var branch = new SeparableConv(plan.Scope($"aspp{i + 1}"), inChannels, AsppChannels, Dilations[i]);
                register_module($"aspp{i + 1}", branch);
                concat += branch.OutChannels;
            }
            register_module("cat", new Concat());
            var fuse = Backbone.Unit(plan, "concat", concat, AsppChannels, 1, 1, ActivationKind.ReLU);
            register_module("concat", fuse);
            OutChannels = Backbone.Width(fuse);
        }

        public int OutChannels { get; }

        public override Tensor forward(Tensor x)
        {
            var pooled = ((ConvBN)get_submodule("image_pool")).call(x.mean(new long[] { 2, 3 }, keepdim: true));
            pooled = F.interpolate(pooled, new[] { x.shape[2], x.shape[3] }, mode: "bilinear", align_corners: true);
            var parts = new List<Tensor> { pooled, ((ConvBN)get_submodule("aspp0")).call(x) };
            for (int i = 1; i <= Dilations.Length; i++) parts.Add(((SeparableConv)get_submodule($"aspp{i}")).call(x));
            var cat = ((torch.nn.Module<Tensor[], Tensor>)get_submodule("cat")).call(parts.ToArray());
            return ((ConvBN)get_submodule("concat")).call(cat);
        }
    }

    /// <summary>PaddleSeg's decoder: <c>concat</c> (the shortcut's 1×1 to 48), concatenated after the upsampled encoder output, then <c>separable_conv1/2</c>.</summary>
    private sealed class Decoder : torch.nn.Module
    {
        public Decoder(ChannelPlan plan, int encoderChannels, int shortcutChannels) : base("Decoder")
        {
            var reduce = Backbone.Unit(plan, "concat", shortcutChannels, ShortcutChannels, 1, 1, ActivationKind.ReLU);
            register_module("concat", reduce);
            register_module("cat", new Concat());
            var sep1 = new SeparableConv(plan.Scope("separable_conv1"), encoderChannels + Backbone.Width(reduce), AsppChannels, 1);
            var sep2 = new SeparableConv(plan.Scope("separable_conv2"), sep1.OutChannels, AsppChannels, 1);
            register_module("separable_conv1", sep1);
            register_module("separable_conv2", sep2);
            OutChannels = sep2.OutChannels;
        }

        public int OutChannels { get; }

        public Tensor Fuse(Tensor encoded, Tensor shortcut)
        {
            var s = ((ConvBN)get_submodule("concat")).call(shortcut);
            var up = F.interpolate(encoded, new[] { s.shape[2], s.shape[3] }, mode: "bilinear", align_corners: true);
            var cat = ((torch.nn.Module<Tensor[], Tensor>)get_submodule("cat")).call([up, s]);
            return ((SeparableConv)get_submodule("separable_conv2")).call(((SeparableConv)get_submodule("separable_conv1")).call(cat));
        }
    }
}
