using Slim.Detection;
using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// SSDLite on MobileNetV3 as PaddleDetection defines it (configs/ssd/_base_/ssdlite_mobilenet_v3_{large,small}_320.yml,
/// ppdet/modeling/backbones/mobilenet_v3.py, heads/ssd_head.py). The <c>backbone</c> is MobileNetV3 with the multiplier
/// 0.5 on its last three units and <c>conv_last</c> (1×1, hard-swish: 480 large, 288 small). Six maps feed the head: the
/// expansion output inside the last stride-16 → 32 unit (large 672, small 288 channels; stride 16), <c>conv_last</c>
/// (stride 32), and four <c>extra_blocks</c> (1×1 ReLU6 to c1, depthwise 3×3/2 with channel multiplier 2 to c2, 1×1
/// ReLU6: [256, 512], [128, 256], [128, 256], [64, 128]). Per map i the <c>head</c> has <c>boxes{i}</c> and
/// <c>scores{i}</c>, each a separable conv (depthwise 3×3, BN, ReLU6, then a 1×1 without bias) giving P·4 box deltas
/// (dx, dy, dw, dh) and P·(C + 1) class logits (background last) per cell, P the priors per cell
/// (<see cref="SsdPriorBoxes"/>). Returns [N, priors, 4] deltas and [N, priors, C + 1] logits, the maps concatenated in
/// order, each in row-major cell order with a cell's priors together (the order of the priors).
/// </summary>
/// <remarks>
/// Differences from PaddleDetection, none changing shapes or FLOPs: convs pad symmetrically (Paddle's extra blocks pad
/// 'SAME', one pixel at the bottom and right only at stride 2 on even sizes), and the SE squeeze follows Slim's
/// MobileNetV3 (<see cref="ModelLayout"/>).
/// </remarks>
public sealed class SsdLite : torch.nn.Module<Tensor, Tensor[]>
{
    private static readonly (int Mid, int Out)[] ExtraBlocks = [(256, 512), (128, 256), (128, 256), (64, 128)];

    private readonly int _tapBlock;

    /// <summary>Builds the network for <paramref name="numClasses"/> foreground classes; overrides in <paramref name="plan"/> set conv widths.</summary>
    public SsdLite(ChannelPlan plan, MobileNetV3Size size, int numClasses, int inChannels, double width, ModelLayout layout = ModelLayout.Paddle,
        SsdPriorOptions? priors = null) : base("SsdLite")
    {
        NumClasses = numClasses;
        Priors = priors ?? SsdPriorOptions.SsdLite320;
        var perCell = SsdPriorBoxes.PriorsPerCell(Priors);
        if (perCell.Count != 1 + 1 + ExtraBlocks.Length)
            throw new ModelException($"SSDLite has {2 + ExtraBlocks.Length} feature maps but the prior settings describe {perCell.Count}");
        var backbone = new MobileNetV3(plan.Scope("backbone"), size, inChannels, width, layout, lastConv: true, lastStagesMultiplier: 0.5);
        register_module("backbone", backbone);
        var blocks = (ModuleList<torch.nn.Module>)backbone.get_submodule("blocks");
        var config = MobileNetV3.Config(size);
        // The unit that goes from stride 16 to 32: the head's first map is its expansion output.
        int stride = 2;
        _tapBlock = -1;
        for (int i = 0; i < config.Count; i++)
        {
            if (stride == 16 && config[i].Stride == 2) _tapBlock = i;
            stride *= config[i].Stride;
        }
        var channels = new List<int>
        {
            ((MobileNetV3Block)blocks[_tapBlock]).MidChannels,
            backbone.OutChannels[2],
        };
        var extras = new ModuleList<torch.nn.Module>();
        int c = channels[1];
        for (int i = 0; i < ExtraBlocks.Length; i++)
        {
            var block = new ExtraBlock(plan.Scope($"extra_blocks.{i}"), c, Channels.Scale(ExtraBlocks[i].Mid, width), Channels.Scale(ExtraBlocks[i].Out, width));
            extras.Add(block);
            c = block.OutChannels;
            channels.Add(c);
        }
        register_module("extra_blocks", extras);
        var head = new Sequential(Array.Empty<torch.nn.Module<Tensor, Tensor>>());
        for (int i = 0; i < channels.Count; i++)
        {
            plan.Fixed($"head.boxes{i}.pw_conv", perCell[i] * 4, "a box branch gives four deltas per prior");
            plan.Fixed($"head.scores{i}.pw_conv", perCell[i] * (numClasses + 1), "a score branch gives one logit per class and background per prior");
            head.Add($"boxes{i}", new SepConv(plan.Scope($"head.boxes{i}"), channels[i], perCell[i] * 4));
            head.Add($"scores{i}", new SepConv(plan.Scope($"head.scores{i}"), channels[i], perCell[i] * (numClasses + 1)));
        }
        register_module("head", head);
        PriorsPerCell = perCell;
    }

    /// <summary>Foreground classes (the scores have one more, background, last).</summary>
    public int NumClasses { get; }

    /// <summary>The prior settings the head is built for.</summary>
    public SsdPriorOptions Priors { get; }

    /// <summary>Priors per cell on each of the six maps.</summary>
    public IReadOnlyList<int> PriorsPerCell { get; }

    /// <summary>The six feature maps the head reads (for the priors' map sizes and for distillation).</summary>
    public IReadOnlyList<Tensor> Features(Tensor x)
    {
        var backbone = (MobileNetV3)get_submodule("backbone");
        var y = ((ConvBN)backbone.get_submodule("conv1")).call(x);
        var blocks = (ModuleList<torch.nn.Module>)backbone.get_submodule("blocks");
        Tensor? first = null;
        for (int i = 0; i < blocks.Count; i++)
        {
            var block = (MobileNetV3Block)blocks[i];
            y = i == _tapBlock ? block.Forward(y, out first) : block.call(y);
        }
        y = ((ConvBN)backbone.get_submodule("conv_last")).call(y);
        var maps = new List<Tensor> { first!, y };
        var extras = (ModuleList<torch.nn.Module>)get_submodule("extra_blocks");
        for (int i = 0; i < extras.Count; i++)
        {
            y = ((ExtraBlock)extras[i]).call(y);
            maps.Add(y);
        }
        return maps;
    }

    public override Tensor[] forward(Tensor x)
    {
        var maps = Features(x);
        var boxes = new List<Tensor>();
        var scores = new List<Tensor>();
        long n = x.shape[0];
        for (int i = 0; i < maps.Count; i++)
        {
            // NCHW → NHWC → [N, H·W·P, k]: cell-major, the priors of a cell together.
            var b = ((SepConv)get_submodule($"head.boxes{i}")).call(maps[i]);
            var s = ((SepConv)get_submodule($"head.scores{i}")).call(maps[i]);
            boxes.Add(b.permute(0, 2, 3, 1).reshape(n, -1, 4));
            scores.Add(s.permute(0, 2, 3, 1).reshape(n, -1, NumClasses + 1));
        }
        return [torch.cat(boxes.ToArray(), 1), torch.cat(scores.ToArray(), 1)];
    }

    /// <summary>PaddleDetection's ExtraBlockDW: <c>pointwise_conv</c> (1×1, ReLU6), <c>depthwise_conv</c> (3×3/2, channel multiplier c2/c1, ReLU6), <c>normal_conv</c> (1×1, ReLU6).</summary>
    private sealed class ExtraBlock : torch.nn.Module<Tensor, Tensor>
    {
        public ExtraBlock(ChannelPlan plan, int inChannels, int mid, int output) : base("ExtraBlock")
        {
            var pw = Backbone.Unit(plan, "pointwise_conv", inChannels, mid, 1, 1, ActivationKind.ReLU6);
            int c1 = Backbone.Width(pw);
            // The depthwise conv doubles the channels (groups = its input): its width follows its input's.
            int c2 = c1 * Math.Max(1, output / mid);
            plan.Fixed("depthwise_conv.conv", c2, $"a depthwise conv with channel multiplier {output / mid} gives {c2} channels from {c1}");
            var dw = new ConvBN(c1, c2, 3, 2, c1, ActivationKind.ReLU6);
            var normal = Backbone.Unit(plan, "normal_conv", c2, output, 1, 1, ActivationKind.ReLU6);
            register_module("pointwise_conv", pw);
            register_module("depthwise_conv", dw);
            register_module("normal_conv", normal);
            OutChannels = Backbone.Width(normal);
        }

        public int OutChannels { get; }

        public override Tensor forward(Tensor x) =>
            ((ConvBN)get_submodule("normal_conv")).call(((ConvBN)get_submodule("depthwise_conv")).call(((ConvBN)get_submodule("pointwise_conv")).call(x)));
    }

    /// <summary>PaddleDetection's SepConvLayer: <c>dw_conv</c> (depthwise 3×3, BN, ReLU6), then <c>pw_conv</c> (1×1, no bias).</summary>
    private sealed class SepConv : torch.nn.Module<Tensor, Tensor>
    {
        public SepConv(ChannelPlan plan, int inChannels, int output) : base("SepConv")
        {
            var dw = Backbone.Depthwise(plan, "dw_conv", inChannels, 3, 1, ActivationKind.ReLU6);
            register_module("dw_conv", dw);
            register_module("pw_conv", new Conv2d(inChannels, output, 1, bias: false, weightName: "weights"));
        }

        public override Tensor forward(Tensor x) =>
            ((torch.nn.Module<Tensor, Tensor>)get_submodule("pw_conv")).call(((ConvBN)get_submodule("dw_conv")).call(x));
    }
}
