using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// A classifier: a <see cref="Backbone"/> under <c>backbone</c>, global average pooling of its stride-32 map,
/// optionally a hidden fully connected layer <c>hidden</c> with hard-swish (MobileNetV3's 1280 or 1024 units: a
/// Linear in torchvision, a 1×1 conv without bias in PaddleClas), and a fully connected layer <c>fc</c>
/// ("weights"/"bias") to the logits. Dropout before <c>fc</c> is left out: it does nothing at inference.
/// </summary>
public sealed class ImageClassifier : torch.nn.Module<Tensor, Tensor>
{
    /// <summary>Builds the classifier over backbone; plan is the model's root plan.</summary>
    public ImageClassifier(Backbone backbone, int numClasses, int hidden = 0, bool hiddenBias = true) : base("ImageClassifier")
    {
        NumClasses = numClasses;
        register_module("backbone", backbone);
        register_module("pool", new AdaptiveAvgPool2d(1));
        register_module("flatten", new Flatten());
        int features = backbone.OutChannels[2];
        if (hidden > 0)
        {
            register_module("hidden", new Linear(features, hidden, bias: hiddenBias, weightName: "weights", biasName: "bias"));
            register_module("hidden_act", new Activation(ActivationKind.HardSwish));
            features = hidden;
        }
        HasHidden = hidden > 0;
        register_module("fc", new Linear(features, numClasses, bias: true, weightName: "weights", biasName: "bias"));
    }

    /// <summary>Whether a hidden layer sits between the pooled features and fc.</summary>
    public bool HasHidden { get; }

    /// <summary>Output logits.</summary>
    public int NumClasses { get; }

    /// <summary>The feature extractor.</summary>
    public Backbone Backbone => (Backbone)get_submodule("backbone");

    private torch.nn.Module<Tensor, Tensor> Layer(string path) => (torch.nn.Module<Tensor, Tensor>)get_submodule(path);

    /// <summary>[N, C, H, W] images → [N, classes] logits.</summary>
    public override Tensor forward(Tensor x)
    {
        var features = Backbone.call(x);
        var x1 = Layer("flatten").call(Layer("pool").call(features[2]));
        if (HasHidden) x1 = Layer("hidden_act").call(Layer("hidden").call(x1));
        return Layer("fc").call(x1);
    }
}
