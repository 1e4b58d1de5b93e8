using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// MobileNetV1 as PaddleDetection defines it: <c>conv1</c> (3×3/2, 32) then thirteen depthwise-separable
/// blocks <c>conv2_1</c> … <c>conv5_6</c>, <c>conv6</c>, each with <c>dw</c>/<c>pw</c> units, all ReLU. Feature
/// maps are taken after <c>conv3_2</c> (stride 8, 256), <c>conv4_2</c> (stride 16, 512) and <c>conv6</c> (stride 32, 1024).
/// </summary>
public sealed class MobileNetV1 : Backbone
{
    // (name, output channels at width 1, stride)
    private static readonly (string Name, int Out, int Stride)[] Blocks =
    {
        ("conv2_1", 64, 1), ("conv2_2", 128, 2),
        ("conv3_1", 128, 1), ("conv3_2", 256, 2),
        ("conv4_1", 256, 1), ("conv4_2", 512, 2),
        ("conv5_1", 512, 1), ("conv5_2", 512, 1), ("conv5_3", 512, 1), ("conv5_4", 512, 1), ("conv5_5", 512, 1),
        ("conv5_6", 1024, 2), ("conv6", 1024, 1),
    };

    private static readonly string[] Taps = { "conv3_2", "conv4_2", "conv6" };

    /// <summary>Builds the network; plan is scoped to this backbone's path.</summary>
    public MobileNetV1(ChannelPlan plan, int inChannels, double width) : base("MobileNetV1")
    {
        var conv1 = Unit(plan, "conv1", inChannels, Channels.Scale(32, width), 3, 2, ActivationKind.ReLU);
        AddLayer("conv1", conv1);
        int c = Width(conv1);
        foreach (var (name, outDefault, stride) in Blocks)
        {
            var block = new DepthwiseSeparable(plan.Scope(name), c, Channels.Scale(outDefault, width), stride);
            AddLayer(name, block);
            c = block.OutChannels;
            int tap = Array.IndexOf(Taps, name);
            if (tap >= 0) SetTap(tap, name, c);
        }
    }
}
