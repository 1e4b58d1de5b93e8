namespace Slim.Data;

/// <summary>
/// A detection dataset in memory: the class names and, per image, its file and ground truth.
/// Readers (<see cref="CocoDataset"/>, <see cref="VocDataset"/>) produce it; the loader and the
/// AP evaluators consume it.
/// </summary>
public sealed class DetectionDataset
{
    /// <summary>Creates a dataset; at least one class and one sample are required.</summary>
    public DetectionDataset(string source, IReadOnlyList<string> classNames, IReadOnlyList<DetectionSample> samples,
        IReadOnlyList<int>? categoryIds = null, DatasetReport? report = null)
    {
        if (classNames.Count == 0) throw new DatasetException(source, $"Dataset '{source}' defines no classes.");
        if (samples.Count == 0) throw new DatasetException(source, $"Dataset '{source}' has no images.");
        if (categoryIds is not null && categoryIds.Count != classNames.Count)
            throw new ArgumentException($"categoryIds has {categoryIds.Count} entries for {classNames.Count} classes");
        Source = source;
        ClassNames = classNames;
        Samples = samples;
        CategoryIds = categoryIds ?? Enumerable.Range(1, classNames.Count).ToArray();
        Report = report ?? new DatasetReport();
    }

    /// <summary>The annotation file or folder the dataset was read from.</summary>
    public string Source { get; }

    /// <summary>Class names; a box's class index points into this list.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The images with their ground truth.</summary>
    public IReadOnlyList<DetectionSample> Samples { get; }

    /// <summary>
    /// The original category id of each class index (COCO category ids, needed to write COCO-style
    /// results); 1-based indices for datasets without ids of their own.
    /// </summary>
    public IReadOnlyList<int> CategoryIds { get; }

    /// <summary>Clipped/dropped boxes and skipped images, counted while reading and validating.</summary>
    public DatasetReport Report { get; }

    /// <summary>Number of ground-truth boxes over all images.</summary>
    public int BoxCount => Samples.Sum(s => s.Boxes.Count);

    /// <summary>
    /// Checks every image before any work: the file exists, its header reads, and its size is the annotated one (the
    /// boxes are in annotated pixels, so a file of another size would be trained and scored against misplaced boxes).
    /// With <paramref name="decodeImages"/> each image is also decoded in full. A missing file or a size that disagrees
    /// is always an error naming it; an unreadable file is an error unless <paramref name="skipCorrupt"/>, in which
    /// case the image is left out of the returned dataset and counted in <see cref="DatasetReport.SkippedImages"/>.
    /// </summary>
    /// <exception cref="ImageException">An image is missing, or corrupt without <paramref name="skipCorrupt"/>.</exception>
    /// <exception cref="DatasetException">An image's file is not of the annotated size.</exception>
    public DetectionDataset Validate(bool decodeImages = false, bool skipCorrupt = false, Action<string>? log = null)
    {
        var kept = new List<DetectionSample>(Samples.Count);
        foreach (var s in Samples)
        {
            if (!File.Exists(s.ImagePath))
                throw new ImageException(s.ImagePath, $"Image file '{s.ImagePath}' (image id {s.ImageId} of '{Source}') does not exist.");
            int width, height;
            try
            {
                (width, height) = Image.ReadSize(s.ImagePath);
                if (decodeImages) Image.Load(s.ImagePath);
            }
            catch (ImageException e) when (skipCorrupt)
            {
                Report.SkippedImages++;
                Report.Warn($"skipped corrupt image: {e.Message}", log);
                continue;
            }
            if (width != s.Width || height != s.Height)
                throw new DatasetException(Source, $"{Source}: image id {s.ImageId} ('{s.ImagePath}') is annotated as {s.Width}×{s.Height} " +
                    $"but the file is {width}×{height}; correct the annotation's width and height (its boxes are in annotated pixels) or replace the file");
            kept.Add(s);
        }
        if (kept.Count == 0)
            throw new DatasetException(Source, $"Dataset '{Source}' has no decodable images ({Report.SkippedImages} skipped as corrupt).");
        return kept.Count == Samples.Count ? this : new DetectionDataset(Source, ClassNames, kept, CategoryIds, Report);
    }
}
