using Slim.Torch;
using Slim.Torch.Modules;

namespace Slim.Models;

/// <summary>
/// A feature extractor: a chain of named layers that returns the outputs of three of them, the
/// feature maps at strides 8, 16 and 32 (in that order). The YOLOv3 head reads all three; a
/// classifier pools the last. Each tap is the output of a named submodule (<see cref="TapPaths"/>),
/// so a forward hook on that path sees the same tensor.
/// </summary>
public abstract class Backbone : torch.nn.Module<Tensor, Tensor[]>
{
    private readonly List<string> _chain = new();
    private readonly string[] _tapPaths = new string[3];
    private readonly int[] _outChannels = new int[3];

    protected Backbone(string typeName) : base(typeName) { }

    /// <summary>Strides of the returned feature maps.</summary>
    public static IReadOnlyList<int> Strides { get; } = new[] { 8, 16, 32 };

    /// <summary>Channels of the returned feature maps, in stride order, as built.</summary>
    public IReadOnlyList<int> OutChannels => _outChannels;

    /// <summary>Module paths (relative to the backbone) whose outputs are the returned feature maps, in stride order.</summary>
    public IReadOnlyList<string> TapPaths => _tapPaths;

    /// <summary>Registers a child layer and appends it to the chain.</summary>
    protected void AddLayer(string name, torch.nn.Module<Tensor, Tensor> layer)
    {
        register_module(name, layer);
        _chain.Add(name);
    }

    /// <summary>Appends an already registered layer, by its dotted path (e.g. <c>blocks.3</c>), to the chain.</summary>
    protected void AddToChain(string path) => _chain.Add(path);

    /// <summary>Declares that the output of the chain layer at path, with the given channels, is the feature map of tap index (0: stride 8, 1: 16, 2: 32).</summary>
    protected void SetTap(int index, string path, int channels)
    {
        _tapPaths[index] = path;
        _outChannels[index] = channels;
    }

    /// <summary>
    /// Runs the chain; intermediates belong to the caller's dispose scope. Layers are looked up by
    /// path on every call so that a layer swapped in by set_submodule (quantization) is the one run.
    /// </summary>
    public override Tensor[] forward(Tensor x)
    {
        if (_tapPaths.Any(p => p is null)) throw new InvalidOperationException($"{TypeName}: feature taps were not declared");
        var taps = new Tensor[3];
        var y = x;
        foreach (var path in _chain)
        {
            var layer = get_submodule(path) as torch.nn.Module<Tensor, Tensor>
                ?? throw new InvalidOperationException($"backbone layer '{path}' is not a Tensor → Tensor layer");
            y = layer.call(y);
            int tap = Array.IndexOf(_tapPaths, path);
            if (tap >= 0) taps[tap] = y;
        }
        return taps;
    }

    /// <summary>Builds a ConvBN whose out_channels come from the plan (path "name.conv").</summary>
    internal static ConvBN Unit(ChannelPlan plan, string name, int inChannels, int defaultOut, int kernel, int stride,
        ActivationKind? activation, double negativeSlope = 0.1) =>
        new(inChannels, plan.Out(name + ".conv", defaultOut), kernel, stride, 1, activation, negativeSlope);

    /// <summary>Builds a depthwise ConvBN: its width is that of its input, whatever the plan says.</summary>
    internal static ConvBN Depthwise(ChannelPlan plan, string name, int channels, int kernel, int stride, ActivationKind? activation)
    {
        plan.Fixed(name + ".conv", channels, $"a depthwise conv keeps its {channels} input channels");
        return new ConvBN(channels, channels, kernel, stride, channels, activation);
    }

    /// <summary>The out_channels a ConvBN was built with.</summary>
    internal static int Width(ConvBN unit) => (int)unit.Conv!.out_channels;

    /// <summary>Fails when a residual add would join tensors of different widths.</summary>
    internal static void CheckResidual(ChannelPlan plan, string name, int input, int output)
    {
        if (input != output)
            throw new ModelException($"channel overrides break the residual add of '{plan.Join(name)}': its input has {input} channels " +
                                     $"but its last conv gives {output}; a residual block's input and output are pruned together");
    }
}
