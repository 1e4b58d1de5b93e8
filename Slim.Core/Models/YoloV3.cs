using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Models;

/// <summary>
/// YOLOv3 as PaddleDetection builds it: a <see cref="Backbone"/> under <c>backbone</c>, three detection blocks
/// <c>yolo_block.{0,1,2}</c> fed the stride-32, 16 and 8 maps with widths 512, 256, 128 (× width), output convs
/// <c>yolo_output.{i}</c> (1×1 with bias, anchors·(5+classes) channels), and between scales a transition
/// <c>yolo_transition.{i}</c> (1×1 ConvBN leaky, to width/2) upsampled ×2 (nearest) and concatenated before
/// the next backbone map. Forward returns the raw head outputs [N, A·(5+C), H, W], stride 32 first.
/// </summary>
public sealed class YoloV3 : nn.Module<Tensor, Tensor[]>
{
    /// <summary>Strides of the three outputs, in output order.</summary>
    public static IReadOnlyList<int> OutputStrides { get; } = new[] { 32, 16, 8 };

    private static readonly int[] BlockWidths = { 512, 256, 128 };
    private static readonly int[] TransitionWidths = { 256, 128 };

    /// <summary>Builds the head over backbone; plan is the model's root plan (paths like <c>yolo_block.0.0.0.conv</c>).</summary>
    public YoloV3(Backbone backbone, ChannelPlan plan, int numClasses, int anchorsPerScale, double width) : base("YoloV3")
    {
        NumClasses = numClasses;
        AnchorsPerScale = anchorsPerScale;
        register_module("backbone", backbone);
        var blocks = new ModuleList<nn.Module>();
        var outputs = new ModuleList<nn.Module>();
        var transitions = new ModuleList<nn.Module>();
        register_module("yolo_block", blocks);
        register_module("yolo_output", outputs);
        register_module("yolo_transition", transitions);
        register_module("upsample", new Upsample(2, "nearest"));
        var concats = new ModuleList<nn.Module>();
        register_module("concat", concats);

        int outChannels = anchorsPerScale * (5 + numClasses);
        int routeChannels = 0;
        for (int i = 0; i < 3; i++)
        {
            int inChannels = backbone.OutChannels[2 - i] + (i > 0 ? routeChannels : 0);
            var block = new YoloBlock(plan.Scope($"yolo_block.{i}"), inChannels, Channels.Scale(BlockWidths[i], width));
            blocks.Add(block);
            int o = plan.Fixed($"yolo_output.{i}.conv", outChannels, $"a YOLO output has anchors·(5+classes) = {outChannels} channels");
            outputs.Add(new Sequential(("conv", (nn.Module<Tensor, Tensor>)new Conv2d(block.TipChannels, o, 1, bias: true,
                weightName: "weights", biasName: "bias"))));
            if (i < 2)
            {
                var transition = Backbone.Unit(plan, $"yolo_transition.{i}", block.RouteChannels, Channels.Scale(TransitionWidths[i], width), 1, 1,
                    ActivationKind.LeakyReLU, YoloBlock.LeakySlope);
                transitions.Add(transition);
                concats.Add(new Concat(1));
                routeChannels = Backbone.Width(transition);
            }
        }
    }

    /// <summary>Object classes.</summary>
    public int NumClasses { get; }

    /// <summary>Anchors per output scale.</summary>
    public int AnchorsPerScale { get; }

    /// <summary>The feature extractor.</summary>
    public Backbone Backbone => (Backbone)get_submodule("backbone");

    /// <summary>Module paths whose outputs are the backbone feature maps handed to the head (strides 8, 16, 32).</summary>
    public IReadOnlyList<string> BackboneFeaturePaths => Backbone.TapPaths.Select(p => "backbone." + p).ToArray();

    /// <summary>Module paths of the routes (<c>yolo_block.{i}.2</c>), in output order; distillation hooks these.</summary>
    public IReadOnlyList<string> RoutePaths { get; } = Enumerable.Range(0, 3).Select(i => $"yolo_block.{i}.2").ToArray();

    /// <summary>Module paths of the tips (<c>yolo_block.{i}.tip</c>), in output order.</summary>
    public IReadOnlyList<string> TipPaths { get; } = Enumerable.Range(0, 3).Select(i => $"yolo_block.{i}.tip").ToArray();

    /// <summary>Module paths of the output convs (<c>yolo_output.{i}</c>), in output order.</summary>
    public IReadOnlyList<string> OutputPaths { get; } = Enumerable.Range(0, 3).Select(i => $"yolo_output.{i}").ToArray();

    private nn.Module<Tensor, Tensor> Layer(string path) => (nn.Module<Tensor, Tensor>)get_submodule(path);

    public override Tensor[] forward(Tensor x)
    {
        var features = Backbone.call(x);
        var outputs = new Tensor[3];
        Tensor? route = null;
        for (int i = 0; i < 3; i++)
        {
            var input = route is null ? features[2 - i]
                : ((nn.Module<Tensor[], Tensor>)get_submodule($"concat.{i - 1}")).call(new[] { route, features[2 - i] });
            var block = (nn.Module<Tensor, Tensor[]>)get_submodule($"yolo_block.{i}");
            var routeTip = block.call(input);
            outputs[i] = Layer($"yolo_output.{i}").call(routeTip[1]);
            if (i < 2) route = Layer("upsample").call(Layer($"yolo_transition.{i}").call(routeTip[0]));
        }
        return outputs;
    }
}
