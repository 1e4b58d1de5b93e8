namespace Slim.Data;

/// <summary>What a dataset reader or validation fixed up or left out, so callers can log it.</summary>
public sealed class DatasetReport
{
    private readonly List<string> _warnings = new();

    /// <summary>Boxes that extended beyond their image and were clipped to it.</summary>
    public int ClippedBoxes { get; internal set; }

    /// <summary>Boxes dropped because they had no area after clipping.</summary>
    public int DroppedBoxes { get; internal set; }

    /// <summary>Images left out by validation because they could not be decoded.</summary>
    public int SkippedImages { get; internal set; }

    /// <summary>One line per fix-up or skip, in the order they happened.</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    internal void Warn(string message, Action<string>? log)
    {
        _warnings.Add(message);
        log?.Invoke(message);
    }

    /// <summary>A one-line summary, e.g. "clipped 3 boxes, dropped 1 degenerate box".</summary>
    public override string ToString() =>
        $"clipped {ClippedBoxes} box(es), dropped {DroppedBoxes} degenerate box(es), skipped {SkippedImages} corrupt image(s)";
}
