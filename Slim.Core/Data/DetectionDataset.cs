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
    /// Checks every image before any work: the file exists, its header reads, and its size is the annotated one. The
    /// boxes are in annotated pixels: on data that is scored (<paramref name="sizesMustMatch"/>) another size would
    /// compare predictions in file pixels with misplaced ground truth, so it is an error; on training data the
    /// loader rescales the boxes to the file, which is said once with the count. With <paramref name="decodeImages"/>
    /// each image is also decoded in full. A missing file is always an error naming it; an unreadable one is an
    /// error unless <paramref name="skipCorrupt"/>, in which case the image is left out and counted in
    /// <see cref="DatasetReport.SkippedImages"/>. Headers are read in parallel.
    /// </summary>
    /// <exception cref="ImageException">An image is missing, or corrupt without <paramref name="skipCorrupt"/>.</exception>
    /// <exception cref="DatasetException">An image's file is not of the annotated size and sizes must match.</exception>
    public DetectionDataset Validate(bool decodeImages = false, bool skipCorrupt = false, Action<string>? log = null, bool sizesMustMatch = true)
    {
        foreach (var s in Samples)
            if (!File.Exists(s.ImagePath))
                throw new ImageException(s.ImagePath, $"Image file '{s.ImagePath}' (image id {s.ImageId} of '{Source}') does not exist.");
        var sizes = new ((int Width, int Height)? Size, ImageException? Error)[Samples.Count];
        Parallel.For(0, Samples.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Min(8, Environment.ProcessorCount) }, i =>
        {
            try
            {
                var size = Image.ReadSize(Samples[i].ImagePath);
                if (decodeImages) Image.Load(Samples[i].ImagePath);
                sizes[i] = (size, null);
            }
            catch (ImageException e)
            {
                sizes[i] = (null, e);
            }
        });
        var kept = new List<DetectionSample>(Samples.Count);
        var rescaled = new List<DetectionSample>();
        for (int i = 0; i < Samples.Count; i++)
        {
            var s = Samples[i];
            if (sizes[i].Error is { } error)
            {
                if (!skipCorrupt) throw error;
                Report.SkippedImages++;
                Report.Warn($"skipped corrupt image: {error.Message}", log);
                continue;
            }
            var (width, height) = sizes[i].Size!.Value;
            if (width != s.Width || height != s.Height)
            {
                // Width and height swapped: most often a photo whose EXIF orientation the annotation tool ignored.
                var hint = width == s.Height && height == s.Width ? " (width and height swapped: an EXIF rotation the annotation ignored?)" : "";
                if (sizesMustMatch)
                    throw new DatasetException(Source, $"{Source}: image id {s.ImageId} ('{s.ImagePath}') is annotated as {s.Width}×{s.Height} " +
                        $"but the file is {width}×{height}{hint}; its boxes are in annotated pixels, so scores against it would be wrong: correct the annotation or the file");
                rescaled.Add(s);
            }
            kept.Add(s);
        }
        if (rescaled.Count > 0)
        {
            var first = rescaled[0];
            Report.Warn($"{Source}: {rescaled.Count} image(s) differ in size from their annotation (first: image id {first.ImageId}, '{first.ImagePath}'); " +
                        "their boxes are rescaled from the annotated size to the file's", log);
        }
        if (kept.Count == 0)
            throw new DatasetException(Source, $"Dataset '{Source}' has no decodable images ({Report.SkippedImages} skipped as corrupt).");
        return kept.Count == Samples.Count ? this : new DetectionDataset(Source, ClassNames, kept, CategoryIds, Report);
    }
}
