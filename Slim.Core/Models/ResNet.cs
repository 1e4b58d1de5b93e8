using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// ResNet 18/34 (basic blocks) or 50 (bottlenecks), variant B, with PaddleDetection's names: stem
/// <c>conv1</c> (7×7/2, 64) and <c>pool1</c> (3×3/2 max pool), then stages <c>res2a</c>, <c>res2b</c>, …,
/// <c>res5c</c>. Feature maps are the last blocks of res3, res4 and res5 (strides 8, 16, 32; 128/256/512
/// channels for 18/34, 512/1024/2048 for 50). In Paddle's layout the first block of every stage projects its
/// shortcut, res2a's too (64 → 64, which torchvision's adds as it is).
/// </summary>
public sealed class ResNet : Backbone
{
    /// <summary>Builds the network; plan is scoped to this backbone's path.</summary>
    public ResNet(ChannelPlan plan, int depth, int inChannels, double width, ModelLayout layout = ModelLayout.Torchvision) : base("ResNet" + depth)
    {
        int[] blocksPerStage = depth switch
        {
            18 => new[] { 2, 2, 2, 2 },
            34 => new[] { 3, 4, 6, 3 },
            50 => new[] { 3, 4, 6, 3 },
            _ => throw new ModelException($"ResNet depth {depth} is not supported: use 18, 34 or 50"),
        };
        bool bottleneck = depth >= 50;
        Depth = depth;

        var conv1 = Unit(plan, "conv1", inChannels, Channels.Scale(64, width), 7, 2, ActivationKind.ReLU);
        AddLayer("conv1", conv1);
        AddLayer("pool1", new MaxPool2d(3, 2, 1));
        int c = Width(conv1);
        int defaultIn = Channels.Scale(64, width);
        for (int stage = 0; stage < 4; stage++)
        {
            int planes = Channels.Scale(64 << stage, width);
            for (int b = 0; b < blocksPerStage[stage]; b++)
            {
                string name = $"res{stage + 2}{(char)('a' + b)}";
                int stride = b == 0 && stage > 0 ? 2 : 1;
                var block = new ResNetBlock(plan.Scope(name), bottleneck, c, defaultIn, planes, stride, project: b == 0 && layout == ModelLayout.Paddle);
                AddLayer(name, block);
                c = block.OutChannels;
                defaultIn = bottleneck ? planes * 4 : planes;
                if (b == blocksPerStage[stage] - 1 && stage >= 1) SetTap(stage - 1, name, c);
            }
        }
    }

    /// <summary>18, 34 or 50.</summary>
    public int Depth { get; }
}
