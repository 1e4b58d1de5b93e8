namespace Slim.Data;

/// <summary>Options of <see cref="SyntheticDetectionGenerator"/>; <see cref="Validate"/> names the first bad field.</summary>
public sealed record SyntheticDetectionOptions
{
    /// <summary>Folder to create; it holds coco/ and voc/ layouts of the same images.</summary>
    public required string OutputDir { get; init; }

    /// <summary>Seed of every random choice; the same options give byte-identical output.</summary>
    public int Seed { get; init; }

    /// <summary>Number of images over both splits.</summary>
    public int ImageCount { get; init; } = 200;

    /// <summary>Side of the square images, in pixels.</summary>
    public int ImageSize { get; init; } = 160;

    /// <summary>Fewest objects pasted into an image.</summary>
    public int MinObjects { get; init; } = 1;

    /// <summary>Most objects pasted into an image (fewer when no free place is found).</summary>
    public int MaxObjects { get; init; } = 4;

    /// <summary>Smallest object side as a fraction of <see cref="ImageSize"/>.</summary>
    public double MinScale { get; init; } = 0.15;

    /// <summary>Largest object side as a fraction of <see cref="ImageSize"/>.</summary>
    public double MaxScale { get; init; } = 0.5;

    /// <summary>Fraction of the images that form the val split (the last ones).</summary>
    public double ValFraction { get; init; } = 0.2;

    /// <summary>Folder of the Fashion-MNIST idx files; when they are absent, drawn shapes are the classes.</summary>
    public string FashionMnistDir { get; init; } = FashionMnist.DefaultDirectory;

    /// <summary>Use drawn shapes even when Fashion-MNIST is present.</summary>
    public bool ForceShapes { get; init; }

    /// <summary>JPEG quality of the written images.</summary>
    public int JpegQuality { get; init; } = 90;

    /// <summary>Replace <see cref="OutputDir"/> when it exists (otherwise that is an error).</summary>
    public bool Overwrite { get; init; }

    /// <summary>Also write a label PNG per image and PaddleSeg-style list files under <c>segmentation/</c> (segmentation sample data).</summary>
    public bool Masks { get; init; }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the first invalid setting as a user gives it: the recipe key
    /// under dataset.generate and the option of slim dataset generate.
    /// </summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(OutputDir)) throw new ArgumentException("the output folder (--out, dataset.root) is empty");
        if (ImageCount < 1) throw new ArgumentException($"the image count (train_images + val_images, --images) must be at least 1, got {ImageCount}");
        if (ImageSize < 32) throw new ArgumentException($"the image size (image_size, --image-size) must be at least 32 pixels, got {ImageSize}");
        if (MinObjects < 1 || MaxObjects < MinObjects)
            throw new ArgumentException($"objects per image need 1 ≤ min_objects ≤ max_objects, got {MinObjects} and {MaxObjects}");
        if (!(MinScale > 0 && MaxScale >= MinScale && MaxScale <= 1))
            throw new ArgumentException($"object sizes need 0 < min_scale ≤ max_scale ≤ 1, got {MinScale} and {MaxScale}");
        if (MinScale * ImageSize < 6) throw new ArgumentException($"the smallest object (min_scale × image_size) must be at least 6 pixels, got {MinScale * ImageSize:0.#}");
        if (!(ValFraction >= 0 && ValFraction < 1)) throw new ArgumentException($"the validation share (--val-fraction) must be in [0, 1), got {ValFraction}");
        if (JpegQuality is < 1 or > 100) throw new ArgumentException($"the JPEG quality must be 1-100, got {JpegQuality}");
    }
}

/// <summary>What <see cref="SyntheticDetectionGenerator.Generate"/> wrote.</summary>
/// <param name="OutputDir">The created folder.</param>
/// <param name="ClassNames">Class names, by class index.</param>
/// <param name="UsedFashionMnist">False when drawn shapes were used.</param>
/// <param name="TrainImages">Images in the train split.</param>
/// <param name="ValImages">Images in the val split.</param>
/// <param name="Boxes">Objects over all images.</param>
public sealed record SyntheticDetectionResult(string OutputDir, IReadOnlyList<string> ClassNames, bool UsedFashionMnist,
    int TrainImages, int ValImages, int Boxes)
{
    /// <summary>COCO layout root: images/ and annotations/instances_{train,val}.json.</summary>
    public string CocoDir => Path.Combine(OutputDir, "coco");

    /// <summary>VOC layout root: JPEGImages/, Annotations/, ImageSets/Main/{train,val}.txt, label_list.txt.</summary>
    public string VocDir => Path.Combine(OutputDir, "voc");

    /// <summary>The COCO annotation file of a split ("train" or "val").</summary>
    public string CocoAnnotations(string split) => Path.Combine(CocoDir, "annotations", $"instances_{split}.json");

    /// <summary>The COCO image folder.</summary>
    public string CocoImages => Path.Combine(CocoDir, "images");
}
