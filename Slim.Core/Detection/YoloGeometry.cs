namespace Slim.Detection;

/// <summary>
/// The anchor layout a YOLOv3 head is trained and decoded with. The head's outputs come in the
/// order of <see cref="AnchorMasks"/> and <see cref="DownsampleRatios"/> (coarsest first: stride 32, 16, 8);
/// each output has <c>mask.Length * (5 + NumClasses)</c> channels, per anchor x, y, w, h, objectness, classes.
/// </summary>
public sealed record YoloGeometry
{
    /// <summary>The nine COCO anchors of YOLOv3, width and height in input pixels.</summary>
    public static readonly IReadOnlyList<double[]> DefaultAnchors = new[]
    {
        new double[] { 10, 13 }, new double[] { 16, 30 }, new double[] { 33, 23 },
        new double[] { 30, 61 }, new double[] { 62, 45 }, new double[] { 59, 119 },
        new double[] { 116, 90 }, new double[] { 156, 198 }, new double[] { 373, 326 },
    };

    /// <summary>Which anchors each output uses: the largest for stride 32, the smallest for stride 8.</summary>
    public static readonly IReadOnlyList<int[]> DefaultAnchorMasks = new[] { new[] { 6, 7, 8 }, new[] { 3, 4, 5 }, new[] { 0, 1, 2 } };

    /// <summary>Input pixels per grid cell of each output.</summary>
    public static readonly IReadOnlyList<int> DefaultDownsampleRatios = new[] { 32, 16, 8 };

    /// <summary>Anchor (width, height) pairs in input pixels.</summary>
    public IReadOnlyList<double[]> Anchors { get; init; } = DefaultAnchors;

    /// <summary>Indexes into <see cref="Anchors"/>, one list per head output.</summary>
    public IReadOnlyList<int[]> AnchorMasks { get; init; } = DefaultAnchorMasks;

    /// <summary>Stride of each head output, in input pixels.</summary>
    public IReadOnlyList<int> DownsampleRatios { get; init; } = DefaultDownsampleRatios;

    /// <summary>Number of object classes (C).</summary>
    public required int NumClasses { get; init; }

    /// <summary>YOLOv4's grid-sensitivity factor: centre = scale * sigmoid(t) - (scale - 1) / 2. 1 is plain YOLOv3.</summary>
    public double ScaleXY { get; init; } = 1.0;

    /// <summary>Channels each head output must have: anchors of the level times (5 + C).</summary>
    public int ChannelsOf(int level) => AnchorMasks[level].Length * (5 + NumClasses);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        if (NumClasses < 1) throw new ArgumentException($"YoloGeometry.NumClasses must be at least 1, got {NumClasses}");
        if (Anchors.Count == 0) throw new ArgumentException("YoloGeometry.Anchors is empty: give (width, height) pairs in input pixels");
        for (int i = 0; i < Anchors.Count; i++)
            if (Anchors[i] is not { Length: 2 } a || a[0] <= 0 || a[1] <= 0)
                throw new ArgumentException($"YoloGeometry.Anchors[{i}] must be a positive (width, height) pair");
        if (AnchorMasks.Count == 0 || AnchorMasks.Count != DownsampleRatios.Count)
            throw new ArgumentException($"YoloGeometry.AnchorMasks has {AnchorMasks.Count} levels and DownsampleRatios {DownsampleRatios.Count}; they must match (one per head output)");
        for (int l = 0; l < AnchorMasks.Count; l++)
        {
            if (AnchorMasks[l].Length == 0) throw new ArgumentException($"YoloGeometry.AnchorMasks[{l}] is empty");
            foreach (var m in AnchorMasks[l])
                if (m < 0 || m >= Anchors.Count)
                    throw new ArgumentException($"YoloGeometry.AnchorMasks[{l}] names anchor {m}, but there are {Anchors.Count} anchors (0..{Anchors.Count - 1})");
            if (DownsampleRatios[l] < 1) throw new ArgumentException($"YoloGeometry.DownsampleRatios[{l}] must be positive, got {DownsampleRatios[l]}");
        }
        if (!(ScaleXY >= 1)) throw new ArgumentException($"YoloGeometry.ScaleXY must be >= 1, got {ScaleXY}");
    }

    /// <summary>Checks that <paramref name="outputs"/> match this layout: count, rank, channels, one batch size.</summary>
    internal void CheckOutputs(IReadOnlyList<Slim.Torch.Tensor> outputs, string who)
    {
        if (outputs.Count != AnchorMasks.Count)
            throw new ArgumentException($"{who}: got {outputs.Count} head outputs, expected {AnchorMasks.Count} (one per anchor mask, stride {string.Join(", ", DownsampleRatios)})");
        long n = -1;
        for (int l = 0; l < outputs.Count; l++)
        {
            var s = outputs[l].shape;
            if (s.Length != 4 || s[1] != ChannelsOf(l))
                throw new ArgumentException($"{who}: head output {l} has shape [{string.Join(", ", s)}], expected [N, {ChannelsOf(l)}, H, W] ({AnchorMasks[l].Length} anchors x (5 + {NumClasses} classes))");
            if (n >= 0 && s[0] != n)
                throw new ArgumentException($"{who}: head output {l} has batch size {s[0]}, output 0 has {n}");
            n = s[0];
        }
    }
}
