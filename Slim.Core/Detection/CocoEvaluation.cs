namespace Slim.Detection;

/// <summary>
/// The result of a COCO bbox evaluation: pycocotools' twelve summary numbers (−1 where undefined) and the
/// AP (IoU 0.50:0.95, all areas, 100 detections) of each class.
/// </summary>
public sealed record CocoEvaluation
{
    /// <summary>Names of the twelve stats, in pycocotools' order.</summary>
    public static readonly IReadOnlyList<string> StatNames = new[]
    {
        "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
    };

    /// <summary>Long descriptions of the stats, as pycocotools prints them.</summary>
    public static readonly IReadOnlyList<string> StatDescriptions = new[]
    {
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
        "Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]",
        "Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ]",
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
    };

    /// <summary>The twelve stats in the order of <see cref="StatNames"/>.</summary>
    public required IReadOnlyList<double> Stats { get; init; }

    /// <summary>AP of each evaluated class id (−1 for a class without ground truth).</summary>
    public required IReadOnlyDictionary<int, double> PerClassAp { get; init; }

    /// <summary>Class names by class id, when known (from an annotations file).</summary>
    public IReadOnlyDictionary<int, string>? ClassNames { get; init; }

    /// <summary>AP at IoU 0.50:0.95 (the COCO headline number).</summary>
    public double AP => Stats[0];
    /// <summary>AP at IoU 0.50.</summary>
    public double AP50 => Stats[1];
    /// <summary>AP at IoU 0.75.</summary>
    public double AP75 => Stats[2];
    /// <summary>AP of small objects (area below 32²).</summary>
    public double APSmall => Stats[3];
    /// <summary>AP of medium objects (32² to 96²).</summary>
    public double APMedium => Stats[4];
    /// <summary>AP of large objects (above 96²).</summary>
    public double APLarge => Stats[5];
    /// <summary>Recall with one detection per image.</summary>
    public double AR1 => Stats[6];
    /// <summary>Recall with ten detections per image.</summary>
    public double AR10 => Stats[7];
    /// <summary>Recall with 100 detections per image.</summary>
    public double AR100 => Stats[8];
    /// <summary>Recall of small objects.</summary>
    public double ARSmall => Stats[9];
    /// <summary>Recall of medium objects.</summary>
    public double ARMedium => Stats[10];
    /// <summary>Recall of large objects.</summary>
    public double ARLarge => Stats[11];
}
