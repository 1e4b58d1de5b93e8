namespace Slim.Data;

/// <summary>A classification image set: images by index and their labels (what <see cref="ClassificationLoader"/> batches).</summary>
public interface ILabeledImages
{
    /// <summary>Number of images.</summary>
    int Count { get; }

    /// <summary>Image <paramref name="i"/> (a copy the caller may change).</summary>
    Image GetImage(int i);

    /// <summary>Label of image <paramref name="i"/>, an index into the class names.</summary>
    int LabelOf(int i);

    /// <summary>The first <paramref name="n"/> images (all when n is 0 or at least <see cref="Count"/>).</summary>
    ILabeledImages Take(int n);
}
