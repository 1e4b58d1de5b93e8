namespace Slim.Data.Transforms;

/// <summary>Resizes to a fixed size (aspect ratio not kept, as PaddleDetection's YOLO configs do) and scales the boxes.</summary>
public sealed class ResizeImage : IDetectionTransform
{
    /// <summary>Creates the transform.</summary>
    public ResizeImage(int width, int height, Interpolation interpolation = Interpolation.Cubic)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"resize target must be positive, got {width}x{height}");
        Width = width;
        Height = height;
        Interpolation = interpolation;
    }

    /// <summary>Target width.</summary>
    public int Width { get; }
    /// <summary>Target height.</summary>
    public int Height { get; }
    /// <summary>Resampling method.</summary>
    public Interpolation Interpolation { get; }

    /// <inheritdoc/>
    public void Apply(TransformSample sample, Random rng) => Resize(sample, Width, Height, Interpolation);

    /// <summary>Resizes the sample to width x height, scaling and clipping its boxes.</summary>
    public static void Resize(TransformSample sample, int width, int height, Interpolation interpolation)
    {
        var img = sample.Image;
        float sx = (float)width / img.Width, sy = (float)height / img.Height;
        sample.Image = img.Resize(width, height, interpolation);
        for (int i = 0; i < sample.Boxes.Count; i++)
        {
            var b = sample.Boxes[i];
            sample.Boxes[i] = b with
            {
                X1 = Math.Clamp(b.X1 * sx, 0, width), Y1 = Math.Clamp(b.Y1 * sy, 0, height),
                X2 = Math.Clamp(b.X2 * sx, 0, width), Y2 = Math.Clamp(b.Y2 * sy, 0, height),
            };
        }
    }
}
