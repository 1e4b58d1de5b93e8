namespace Slim.Data;

/// <summary>One image and its label map (PNG whose values are the classes).</summary>
public sealed record SegmentationSample(string ImagePath, string LabelPath);

/// <summary>
/// Images with per-pixel labels, read from the Cityscapes layout (<c>leftImg8bit/SPLIT/CITY/*_leftImg8bit.png</c> with
/// <c>gtFine/SPLIT/CITY/*_gtFine_labelTrainIds.png</c>, 19 classes, 255 ignored) or PaddleSeg's plain layout (a list file
/// of "image label" lines, paths relative to the dataset root, and an optional labels.txt of class names).
/// </summary>
public sealed class SegmentationDataset
{
    /// <summary>Cityscapes' 19 training classes, in trainId order.</summary>
    public static readonly IReadOnlyList<string> CityscapesClasses =
    [
        "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation", "terrain", "sky",
        "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
    ];

    public SegmentationDataset(string source, IReadOnlyList<string> classNames, IReadOnlyList<SegmentationSample> samples)
    {
        Source = source;
        ClassNames = classNames;
        Samples = samples;
    }

    /// <summary>Where the samples came from, for messages.</summary>
    public string Source { get; }

    /// <summary>Class names in label order.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    public IReadOnlyList<SegmentationSample> Samples { get; }

    /// <summary>The Cityscapes split (train, val, test) under <paramref name="root"/>; every image must have its label map.</summary>
    /// <exception cref="DatasetException">A folder is missing, empty, or an image has no label map.</exception>
    public static SegmentationDataset LoadCityscapes(string root, string split)
    {
        var images = Path.Combine(root, "leftImg8bit", split);
        var labels = Path.Combine(root, "gtFine", split);
        if (!Directory.Exists(images)) throw new DatasetException(images, $"{images}: not found; the Cityscapes layout has leftImg8bit/{split}/CITY/*_leftImg8bit.png");
        if (!Directory.Exists(labels)) throw new DatasetException(labels, $"{labels}: not found; the Cityscapes layout has gtFine/{split}/CITY/*_gtFine_labelTrainIds.png (made by cityscapesscripts' createTrainIdLabelImgs)");
        var samples = new List<SegmentationSample>();
        foreach (var image in Directory.EnumerateFiles(images, "*_leftImg8bit.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var rel = Path.GetRelativePath(images, image);
            var label = Path.Combine(labels, rel[..^"_leftImg8bit.png".Length] + "_gtFine_labelTrainIds.png");
            if (!File.Exists(label))
                throw new DatasetException(image, $"{image}: no label map {label}; create the trainId labels with cityscapesscripts' createTrainIdLabelImgs");
            samples.Add(new SegmentationSample(image, label));
        }
        if (samples.Count == 0) throw new DatasetException(images, $"{images}: no *_leftImg8bit.png images in its city folders");
        return new SegmentationDataset($"Cityscapes {split} ({root})", CityscapesClasses, samples);
    }

    /// <summary>
    /// A PaddleSeg list file: one "image label" line per sample (space- or tab-separated), paths relative to
    /// <paramref name="root"/>; class names from <paramref name="labelsFile"/> (one per line) when given.
    /// </summary>
    /// <exception cref="DatasetException">The list is missing or empty, a line is malformed, or a file it names is missing (file and line named).</exception>
    public static SegmentationDataset LoadList(string root, string listFile, string? labelsFile = null)
    {
        var list = Path.Combine(root, listFile);
        if (!File.Exists(list)) throw new DatasetException(list, $"{list}: list file not found; it has one \"image label\" line per sample, paths relative to {root}");
        var samples = new List<SegmentationSample>();
        int n = 0;
        foreach (var raw in File.ReadLines(list))
        {
            n++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2) throw new DatasetException(list, $"{list}:{n}: expected \"image label\" (two paths), got {parts.Length} field(s)");
            var image = Path.Combine(root, parts[0]);
            var label = Path.Combine(root, parts[1]);
            if (!File.Exists(image)) throw new DatasetException(list, $"{list}:{n}: image {image} does not exist");
            if (!File.Exists(label)) throw new DatasetException(list, $"{list}:{n}: label map {label} does not exist");
            samples.Add(new SegmentationSample(image, label));
        }
        if (samples.Count == 0) throw new DatasetException(list, $"{list}: no samples in it");
        IReadOnlyList<string> names = [];
        if (labelsFile is not null)
        {
            var path = Path.Combine(root, labelsFile);
            if (!File.Exists(path)) throw new DatasetException(path, $"{path}: class-name file not found (one name per line, in label order)");
            names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        }
        return new SegmentationDataset($"{list}", names, samples);
    }

    /// <summary>
    /// Checks before any work that each image and its label map have the same size (headers only), and that each label
    /// map is a label PNG; returns this.
    /// </summary>
    /// <exception cref="DatasetException">Naming the first mismatching pair.</exception>
    public SegmentationDataset Validate()
    {
        var failures = new string?[Samples.Count];
        Parallel.For(0, Samples.Count, i =>
        {
            var s = Samples[i];
            try
            {
                var (w, h) = Image.ReadSize(s.ImagePath);
                var (lw, lh) = Image.ReadSize(s.LabelPath);
                if ((w, h) != (lw, lh)) failures[i] = $"{s.LabelPath} is {lw}×{lh} but its image {s.ImagePath} is {w}×{h}";
            }
            catch (ImageException e)
            {
                failures[i] = e.Message;
            }
        });
        if (failures.FirstOrDefault(f => f is not null) is { } first) throw new DatasetException(null, first);
        return this;
    }
}
