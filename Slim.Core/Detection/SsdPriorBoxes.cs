namespace Slim.Detection;

/// <summary>
/// The prior (default) boxes of an SSD head as PaddleDetection's AnchorGeneratorSSD and Paddle's prior_box op make them.
/// Sizes are in input pixels; when <see cref="MinSizes"/> is empty they follow from <see cref="MinRatio"/>,
/// <see cref="MaxRatio"/> and <see cref="BaseSize"/> (the first map gets 10 % / 20 % of the base size).
/// </summary>
public sealed record SsdPriorOptions
{
    /// <summary>Pixels between prior centres on each feature map.</summary>
    public required IReadOnlyList<double> Steps { get; init; }

    /// <summary>Aspect ratios (width / height) besides 1 on each map; with <see cref="Flip"/> their inverses too.</summary>
    public required IReadOnlyList<IReadOnlyList<double>> AspectRatios { get; init; }

    public int MinRatio { get; init; } = 20;
    public int MaxRatio { get; init; } = 95;
    public double BaseSize { get; init; } = 320;
    public IReadOnlyList<double> MinSizes { get; init; } = [];
    public IReadOnlyList<double> MaxSizes { get; init; } = [];

    /// <summary>Centre offset inside a cell, in steps.</summary>
    public double Offset { get; init; } = 0.5;
    public bool Flip { get; init; } = true;

    /// <summary>Clip every prior to the image.</summary>
    public bool Clip { get; init; } = true;

    /// <summary>Paddle's min_max_aspect_ratios_order: the min-size square, the max-size square, then the other ratios (else all ratios of the min size, then the max-size square).</summary>
    public bool MinMaxAspectRatiosOrder { get; init; }

    /// <summary>PaddleDetection's SSDLite-MobileNetV3 at 320 px (configs/ssd/_base_/ssdlite_mobilenet_v3_large_320.yml).</summary>
    public static SsdPriorOptions SsdLite320 { get; } = new()
    {
        Steps = [16, 32, 64, 107, 160, 320],
        AspectRatios = [[2.0], [2.0, 3.0], [2.0, 3.0], [2.0, 3.0], [2.0, 3.0], [2.0, 3.0]],
    };

    /// <summary>
    /// <see cref="SsdLite320"/> for another square input: steps and base size scaled by size / 320, so the priors cover the
    /// same share of the image as at 320 (PaddleDetection's are fixed in pixels for its 320 input).
    /// </summary>
    public static SsdPriorOptions ForInput(int size) => size == 320 ? SsdLite320 : SsdLite320 with
    {
        Steps = SsdLite320.Steps.Select(s => s * size / 320.0).ToArray(),
        BaseSize = size,
    };

    /// <summary>The min and max size of each map: given, or from the ratios as AnchorGeneratorSSD computes them.</summary>
    public (double[] Min, double[] Max) Sizes()
    {
        if (MinSizes.Count > 0 || MaxSizes.Count > 0)
        {
            if (MinSizes.Count != AspectRatios.Count || MaxSizes.Count is not 0 && MaxSizes.Count != AspectRatios.Count)
                throw new ArgumentException($"{MinSizes.Count} min sizes and {MaxSizes.Count} max sizes for {AspectRatios.Count} feature maps");
            return (MinSizes.ToArray(), MaxSizes.ToArray());
        }
        int layers = AspectRatios.Count;
        if (layers < 3) throw new ArgumentException($"sizes from ratios need at least 3 feature maps, not {layers}");
        int step = (int)Math.Floor((double)(MaxRatio - MinRatio) / (layers - 2));
        var min = new List<double> { BaseSize * 0.10 };
        var max = new List<double> { BaseSize * 0.20 };
        for (int ratio = MinRatio; ratio <= MaxRatio; ratio += step)
        {
            min.Add(BaseSize * ratio / 100.0);
            max.Add(BaseSize * (ratio + step) / 100.0);
        }
        return (min.ToArray(), max.ToArray());
    }
}

/// <summary>Generates SSD prior boxes, normalized x1, y1, x2, y2, per map in row-major cell order, the priors of a cell together.</summary>
public static class SsdPriorBoxes
{
    /// <summary>Aspect ratios as prior_box expands them: 1 first, then each ratio not seen yet and (with flip) its inverse.</summary>
    public static IReadOnlyList<double> ExpandAspectRatios(IReadOnlyList<double> ratios, bool flip)
    {
        var result = new List<double> { 1.0 };
        foreach (var ar in ratios)
        {
            if (result.Any(r => Math.Abs(ar - r) < 1e-6)) continue;
            result.Add(ar);
            if (flip) result.Add(1.0 / ar);
        }
        return result;
    }

    /// <summary>Priors per cell on each map.</summary>
    public static IReadOnlyList<int> PriorsPerCell(SsdPriorOptions o)
    {
        var (_, max) = o.Sizes();
        return o.AspectRatios.Select(ar => ExpandAspectRatios(ar, o.Flip).Count + (max.Length > 0 ? 1 : 0)).ToArray();
    }

    /// <summary>
    /// The priors of maps of the given sizes (height, width) over an image of <paramref name="imageHeight"/> ×
    /// <paramref name="imageWidth"/> pixels: [P, 4] row-major floats.
    /// </summary>
    public static float[] Generate(SsdPriorOptions o, IReadOnlyList<(int Height, int Width)> maps, int imageHeight, int imageWidth)
    {
        if (maps.Count != o.AspectRatios.Count || o.Steps.Count != o.AspectRatios.Count)
            throw new ArgumentException($"{maps.Count} feature maps, {o.Steps.Count} steps and {o.AspectRatios.Count} aspect-ratio lists must agree");
        var (min, max) = o.Sizes();
        var boxes = new List<float>();
        for (int k = 0; k < maps.Count; k++)
        {
            var ratios = ExpandAspectRatios(o.AspectRatios[k], o.Flip);
            double step = o.Steps[k];
            for (int h = 0; h < maps[k].Height; h++)
                for (int w = 0; w < maps[k].Width; w++)
                {
                    double cx = (w + o.Offset) * step, cy = (h + o.Offset) * step;
                    void Add(double halfW, double halfH)
                    {
                        double[] b = [(cx - halfW) / imageWidth, (cy - halfH) / imageHeight, (cx + halfW) / imageWidth, (cy + halfH) / imageHeight];
                        foreach (var v in b) boxes.Add((float)(o.Clip ? Math.Clamp(v, 0, 1) : v));
                    }
                    double s = min[k];
                    double big = max.Length > 0 ? Math.Sqrt(min[k] * max[k]) / 2 : 0;
                    if (o.MinMaxAspectRatiosOrder)
                    {
                        Add(s / 2, s / 2);
                        if (max.Length > 0) Add(big, big);
                        foreach (var ar in ratios.Where(r => Math.Abs(r - 1) >= 1e-6)) Add(s * Math.Sqrt(ar) / 2, s / Math.Sqrt(ar) / 2);
                    }
                    else
                    {
                        foreach (var ar in ratios) Add(s * Math.Sqrt(ar) / 2, s / Math.Sqrt(ar) / 2);
                        if (max.Length > 0) Add(big, big);
                    }
                }
        }
        return boxes.ToArray();
    }
}
