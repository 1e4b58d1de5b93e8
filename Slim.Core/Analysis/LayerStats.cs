namespace Slim.Analysis;

/// <summary>Cost of one convolution or fully connected layer, measured at batch 1.</summary>
/// <param name="ModulePath">Module path of the layer (<c>yolo_block.0.0.0.conv</c>).</param>
/// <param name="Kind">"conv2d" or "linear".</param>
/// <param name="WeightName">Full parameter name of the weight (<c>yolo_block.0.0.0.conv.weights</c>), or "" when the weight is no parameter.</param>
/// <param name="WeightShape">Shape of the weight ([out, in/groups, k, k] or [out, in]).</param>
/// <param name="OutputShape">Shape of the layer's output at batch 1.</param>
/// <param name="Macs">Multiply-accumulates (no bias): out elements × in/groups × k × k, or out elements × in features.</param>
/// <param name="HasBias">Whether the layer adds a bias.</param>
/// <param name="Parameters">Weight and bias elements.</param>
public sealed record LayerStats(string ModulePath, string Kind, string WeightName, long[] WeightShape, long[] OutputShape,
    long Macs, bool HasBias, long Parameters)
{
    /// <summary>MACs as PaddleSlim's model zoo reports them: divided by 2^30.</summary>
    public double PaddleGFlops => Macs / ModelStats.GiB;
}
