using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// MobileNetV2: <c>conv1</c> (3×3/2, 32, ReLU6), seventeen inverted residuals <c>blocks.0</c> … <c>blocks.16</c>
/// (expansion, channels, repeats, stride: 1·16·1·1, 6·24·2·2, 6·32·3·2, 6·64·4·2, 6·96·3·1, 6·160·3·2,
/// 6·320·1·1), and <c>conv_last</c> (1×1, 1280, ReLU6). Feature maps: the last block at stride 8 (32
/// channels), at stride 16 (96) and <c>conv_last</c> (stride 32). torchvision's layout by default; PaddleClas's
/// adds the 1×1 expansion (32 → 32) to the first block.
/// </summary>
public sealed class MobileNetV2 : Backbone
{
    private static readonly (int Expansion, int Out, int Repeats, int Stride)[] Config =
    {
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    };

    /// <summary>
    /// Builds the network; plan is scoped to this backbone's path. <c>outputStride</c> 16 (PaddleSeg's DeepLab backbone)
    /// keeps a stage that would go past it at stride 1 (no dilation); without <c>lastConv</c> (conv_last, 1280) the last block
    /// is the deepest feature map.
    /// </summary>
    public MobileNetV2(ChannelPlan plan, int inChannels, double width, ModelLayout layout = ModelLayout.Torchvision, int outputStride = 32,
        bool lastConv = true) : base("MobileNetV2")
    {
        if (outputStride is not (16 or 32)) throw new ModelException($"MobileNetV2 output stride {outputStride}: 16 or 32");
        var conv1 = Unit(plan, "conv1", inChannels, Channels.Scale(32, width), 3, 2, ActivationKind.ReLU6);
        AddLayer("conv1", conv1);
        var blocks = new ModuleList<Slim.Torch.torch.nn.Module>();
        register_module("blocks", blocks);
        int c = Width(conv1);
        int defaultIn = Channels.Scale(32, width);
        int stride = 2;
        string? lastAt8 = null, lastAt16 = null;
        int c8 = 0, c16 = 0;
        foreach (var (expansion, output, repeats, s) in Config)
        {
            int defaultOut = Channels.Scale(output, width);
            for (int r = 0; r < repeats; r++)
            {
                string name = "blocks." + blocks.Count;
                int blockStride = r == 0 && stride * s <= outputStride ? s : 1;
                var block = new InvertedResidual(plan.Scope(name), c, defaultIn, defaultOut, expansion, blockStride, layout);
                blocks.Add(block);
                AddToChain(name);
                c = block.OutChannels;
                defaultIn = defaultOut;
                stride *= blockStride;
                if (stride == 8) (lastAt8, c8) = (name, c);
                if (stride == 16) (lastAt16, c16) = (name, c);
            }
        }
        SetTap(0, lastAt8!, c8);
        SetTap(1, lastAt16!, c16);
        if (!lastConv)
        {
            SetTap(2, "blocks." + (blocks.Count - 1), c);
            return;
        }
        // Widening the last conv only for width > 1 keeps small models' classifiers expressive (as the paper does).
        var last = Unit(plan, "conv_last", c, width > 1 ? Channels.Scale(1280, width) : 1280, 1, 1, ActivationKind.ReLU6);
        AddLayer("conv_last", last);
        SetTap(2, "conv_last", Width(last));
    }
}
