namespace Slim.Data.Transforms;

/// <summary>An image and its boxes (pixel coordinates) as they pass through the transforms.</summary>
public sealed class TransformSample
{
    /// <summary>Creates a sample; the boxes list is copied.</summary>
    public TransformSample(Image image, IEnumerable<BoxAnnotation> boxes)
    {
        Image = image;
        Boxes = boxes.ToList();
    }

    /// <summary>The current image (transforms replace it).</summary>
    public Image Image { get; set; }

    /// <summary>The current boxes, in pixels of <see cref="Image"/>.</summary>
    public List<BoxAnnotation> Boxes { get; set; }
}

/// <summary>
/// One augmentation or preprocessing step. Randomness comes only from the rng argument, which the
/// loader seeds from (seed, epoch, image), so results do not depend on thread timing.
/// </summary>
public interface IDetectionTransform
{
    /// <summary>Transforms the sample in place; boxes stay aligned with the pixels they covered.</summary>
    void Apply(TransformSample sample, Random rng);
}
