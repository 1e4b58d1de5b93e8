using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Distillation;

/// <summary>
/// A YOLOv3-shaped toy: a backbone of stride 2, then three head outputs <c>yolo_output.0/1/2</c>
/// ([N, A·(5+C), H, W] at strides 2, 4, 8). <c>spare</c> exists but never runs.
/// </summary>
internal sealed class TinyDetector : nn.Module<Tensor, Tensor[]>
{
    public const int Anchors = 3;
    private readonly Sequential _backbone;
    private readonly ModuleList<Conv2d> _outputs;

    public TinyDetector(int width, int classes, long seed) : base("TinyDetector")
    {
        manual_seed(seed);
        Classes = classes;
        _backbone = new Sequential(
            nn.Conv2d(3, width, 3, stride: 2, padding: 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding: 1), nn.ReLU());
        _outputs = new ModuleList<Conv2d>(
            nn.Conv2d(width, Anchors * (5 + classes), 1),
            nn.Conv2d(width, Anchors * (5 + classes), 1),
            nn.Conv2d(width, Anchors * (5 + classes), 1));
        register_module("backbone", _backbone);
        register_module("yolo_output", _outputs);
        register_module("spare", nn.Conv2d(width, width, 1));
    }

    public int Classes { get; }

    public override Tensor[] forward(Tensor x)
    {
        var f = _backbone.call(x);
        var f4 = F.avg_pool2d(f, new long[] { 2, 2 });
        var f8 = F.avg_pool2d(f4, new long[] { 2, 2 });
        return new[] { _outputs[0].call(f), _outputs[1].call(f4), _outputs[2].call(f8) };
    }
}
