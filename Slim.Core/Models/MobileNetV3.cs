using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>The two MobileNetV3 configurations.</summary>
public enum MobileNetV3Size
{
    Large,
    Small,
}

/// <summary>
/// MobileNetV3 (large or small) as PaddleDetection's YOLOv3 uses it: <c>conv1</c> (3×3/2, 16, hard-swish)
/// then the residual units <c>blocks.0</c> … (<see cref="MobileNetV3Block"/>), no extra blocks. Feature
/// maps are the outputs of the last unit at strides 8, 16 and 32 (large: 40, 112, 160 channels;
/// small: 24, 48, 96), the three deepest maps Paddle's <c>feature_maps</c> hand to the YOLO head. A classifier's
/// backbone ends in <c>conv_last</c> (1×1, six times the last unit's width: 960 or 576, hard-swish), its stride-32 map.
/// </summary>
public sealed class MobileNetV3 : Backbone
{
    private static readonly (int Kernel, int Expand, int Out, bool Se, ActivationKind Act, int Stride)[] LargeConfig =
    {
        (3, 16, 16, false, ActivationKind.ReLU, 1),
        (3, 64, 24, false, ActivationKind.ReLU, 2),
        (3, 72, 24, false, ActivationKind.ReLU, 1),
        (5, 72, 40, true, ActivationKind.ReLU, 2),
        (5, 120, 40, true, ActivationKind.ReLU, 1),
        (5, 120, 40, true, ActivationKind.ReLU, 1),
        (3, 240, 80, false, ActivationKind.HardSwish, 2),
        (3, 200, 80, false, ActivationKind.HardSwish, 1),
        (3, 184, 80, false, ActivationKind.HardSwish, 1),
        (3, 184, 80, false, ActivationKind.HardSwish, 1),
        (3, 480, 112, true, ActivationKind.HardSwish, 1),
        (3, 672, 112, true, ActivationKind.HardSwish, 1),
        (5, 672, 160, true, ActivationKind.HardSwish, 2),
        (5, 960, 160, true, ActivationKind.HardSwish, 1),
        (5, 960, 160, true, ActivationKind.HardSwish, 1),
    };

    private static readonly (int Kernel, int Expand, int Out, bool Se, ActivationKind Act, int Stride)[] SmallConfig =
    {
        (3, 16, 16, true, ActivationKind.ReLU, 2),
        (3, 72, 24, false, ActivationKind.ReLU, 2),
        (3, 88, 24, false, ActivationKind.ReLU, 1),
        (5, 96, 40, true, ActivationKind.HardSwish, 2),
        (5, 240, 40, true, ActivationKind.HardSwish, 1),
        (5, 240, 40, true, ActivationKind.HardSwish, 1),
        (5, 120, 48, true, ActivationKind.HardSwish, 1),
        (5, 144, 48, true, ActivationKind.HardSwish, 1),
        (5, 288, 96, true, ActivationKind.HardSwish, 2),
        (5, 576, 96, true, ActivationKind.HardSwish, 1),
        (5, 576, 96, true, ActivationKind.HardSwish, 1),
    };

    /// <summary>The units of a size, as the paper's tables 1 and 2 give them (at width 1).</summary>
    internal static IReadOnlyList<(int Kernel, int Expand, int Out, bool Se, ActivationKind Act, int Stride)> Config(MobileNetV3Size size) =>
        size == MobileNetV3Size.Large ? LargeConfig : SmallConfig;

    /// <summary>
    /// Builds the network; plan is scoped to this backbone's path. <c>lastStagesMultiplier</c> is PaddleDetection's SSDLite
    /// <c>multiplier</c>: it scales the output of the third-from-last unit and the expansion and output of the last two
    /// (0.5 there); 1 leaves the paper's widths.
    /// </summary>
    public MobileNetV3(ChannelPlan plan, MobileNetV3Size size, int inChannels, double width, ModelLayout layout = ModelLayout.Paddle,
        bool lastConv = false, double lastStagesMultiplier = 1) : base("MobileNetV3")
    {
        Size = size;
        var config = Config(size).ToArray();
        if (lastStagesMultiplier != 1)
        {
            int Scaled(int c) => (int)(c * lastStagesMultiplier);
            config[^3] = config[^3] with { Out = Scaled(config[^3].Out) };
            for (int k = 2; k >= 1; k--) config[^k] = config[^k] with { Expand = Scaled(config[^k].Expand), Out = Scaled(config[^k].Out) };
        }
        var conv1 = Unit(plan, "conv1", inChannels, Channels.Scale(16, width), 3, 2, ActivationKind.HardSwish);
        AddLayer("conv1", conv1);
        var blocks = new ModuleList<Slim.Torch.torch.nn.Module>();
        register_module("blocks", blocks);
        int c = Width(conv1);
        int defaultIn = Channels.Scale(16, width);
        int stride = 2;
        for (int i = 0; i < config.Length; i++)
        {
            var (kernel, expand, output, se, act, s) = config[i];
            string name = "blocks." + i;
            int defaultOut = Channels.Scale(output, width);
            var block = new MobileNetV3Block(plan.Scope(name), c, defaultIn, Channels.Scale(expand, width), defaultOut, kernel, s, se, act, layout);
            blocks.Add(block);
            AddToChain(name);
            c = block.OutChannels;
            defaultIn = defaultOut;
            stride *= s;
            // The last unit at each stride gives that stride's feature map.
            bool lastAtStride = i == config.Length - 1 || config[i + 1].Stride == 2;
            if (lastAtStride && stride is 8 or 16 or 32) SetTap(stride switch { 8 => 0, 16 => 1, _ => 2 }, name, c);
        }
        if (lastConv)
        {
            // Six times the last unit's width (960 / 576): its expansion, which PaddleDetection's SSDLite takes (480 / 288 there).
            var last = Unit(plan, "conv_last", c, Channels.Scale(config[^1].Expand, width), 1, 1, ActivationKind.HardSwish);
            AddLayer("conv_last", last);
            SetTap(2, "conv_last", Width(last));
        }
    }

    /// <summary>Large or small.</summary>
    public MobileNetV3Size Size { get; }
}
