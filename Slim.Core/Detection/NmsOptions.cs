namespace Slim.Detection;

/// <summary>Settings of <see cref="MultiClassNms"/> (PaddleDetection's MultiClassNMS; defaults of its YOLOv3 configs).</summary>
public sealed record NmsOptions
{
    /// <summary>Candidates need a score strictly above this.</summary>
    public double ScoreThreshold { get; init; } = 0.01;

    /// <summary>A box is suppressed by a higher-scoring kept box of its class overlapping it by more than this IoU.</summary>
    public double NmsThreshold { get; init; } = 0.45;

    /// <summary>Candidates per class before suppression, highest scores first; -1 keeps all.</summary>
    public int NmsTopK { get; init; } = 1000;

    /// <summary>Detections per image after suppression, over all classes; -1 keeps all.</summary>
    public int KeepTopK { get; init; } = 100;

    /// <summary>Coordinates are continuous (true) or inclusive pixel indexes whose extent is x2 - x1 + 1 (false).</summary>
    public bool Normalized { get; init; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (!(NmsThreshold > 0 && NmsThreshold <= 1)) throw new ArgumentException($"NmsOptions.NmsThreshold must be in (0, 1], got {NmsThreshold}");
        if (double.IsNaN(ScoreThreshold)) throw new ArgumentException("NmsOptions.ScoreThreshold is NaN");
        if (NmsTopK == 0 || NmsTopK < -1) throw new ArgumentException($"NmsOptions.NmsTopK must be positive or -1 (all), got {NmsTopK}");
        if (KeepTopK == 0 || KeepTopK < -1) throw new ArgumentException($"NmsOptions.KeepTopK must be positive or -1 (all), got {KeepTopK}");
    }
}
