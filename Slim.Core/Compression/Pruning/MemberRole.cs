namespace Slim.Compression.Pruning;

/// <summary>What a layer does with the channels of a group, and so which of its tensors shrink.</summary>
public enum MemberRole
{
    /// <summary>A convolution that produces the channels: weight dim 0 and bias shrink.</summary>
    ConvOutput,
    /// <summary>A convolution that consumes the channels: weight dim 1 shrinks.</summary>
    ConvInput,
    /// <summary>A depthwise convolution: its channels follow its input; weight dim 0, bias and groups shrink.</summary>
    DepthwiseConv,
    /// <summary>A batch norm over the channels: scale, offset, mean and variance shrink.</summary>
    BatchNorm,
    /// <summary>A fully connected layer after flatten: weight dim 1 shrinks by the spatial size per channel.</summary>
    LinearInput,
    /// <summary>Channels that cannot change (model input, a Linear's output, an op the graph does not model).</summary>
    Fixed,
}
