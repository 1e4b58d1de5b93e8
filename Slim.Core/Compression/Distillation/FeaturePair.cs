namespace Slim.Compression.Distillation;

/// <summary>
/// A teacher feature map and the student feature map that learns from it, each named by the
/// dotted path of the module whose output it is (<c>yolo_output.0</c>, <c>backbone.conv5</c>).
/// </summary>
public sealed record FeaturePair(string Teacher, string Student)
{
    /// <summary>Parses <c>teacher_path:student_path</c>, or one path used on both sides.</summary>
    public static FeaturePair Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        if (parts.Length > 2 || parts.Any(p => p.Trim().Length == 0))
            throw new DistillationException($"distillation pair '{text}' must be 'teacher_path:student_path' or one module path, e.g. 'yolo_output.0:yolo_output.0'");
        return parts.Length == 1 ? new FeaturePair(parts[0].Trim(), parts[0].Trim()) : new FeaturePair(parts[0].Trim(), parts[1].Trim());
    }

    /// <summary>The three YOLOv3 head outputs (<c>yolo_output.0/1/2</c>), paired with themselves.</summary>
    public static IReadOnlyList<FeaturePair> YoloOutputs { get; } =
        Enumerable.Range(0, 3).Select(i => new FeaturePair($"yolo_output.{i}", $"yolo_output.{i}")).ToArray();

    /// <summary>The whole models' outputs (the empty path names the model itself), shown as "(model output)".</summary>
    public static FeaturePair ModelOutput { get; } = new("", "");

    public override string ToString() => this == ModelOutput ? "(model output)" : $"{Teacher}:{Student}";
}
