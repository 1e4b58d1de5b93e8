using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// A classifier: a <see cref="Backbone"/> under <c>backbone</c>, global average pooling of its stride-32 map,
/// and a fully connected layer <c>fc</c> ("weights"/"bias") to the logits.
/// </summary>
public sealed class ImageClassifier : torch.nn.Module<Tensor, Tensor>
{
    /// <summary>Builds the classifier over backbone; plan is the model's root plan.</summary>
    public ImageClassifier(Backbone backbone, int numClasses) : base("ImageClassifier")
    {
        NumClasses = numClasses;
        register_module("backbone", backbone);
        register_module("pool", new AdaptiveAvgPool2d(1));
        register_module("flatten", new Flatten());
        register_module("fc", new Linear(backbone.OutChannels[2], numClasses, bias: true, weightName: "weights", biasName: "bias"));
    }

    /// <summary>Output logits.</summary>
    public int NumClasses { get; }

    /// <summary>The feature extractor.</summary>
    public Backbone Backbone => (Backbone)get_submodule("backbone");

    private torch.nn.Module<Tensor, Tensor> Layer(string path) => (torch.nn.Module<Tensor, Tensor>)get_submodule(path);

    /// <summary>[N, C, H, W] images → [N, classes] logits.</summary>
    public override Tensor forward(Tensor x)
    {
        var features = Backbone.call(x);
        return Layer("fc").call(Layer("flatten").call(Layer("pool").call(features[2])));
    }
}
