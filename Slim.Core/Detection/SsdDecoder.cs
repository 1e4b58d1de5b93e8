namespace Slim.Detection;

/// <summary>
/// SSD post-processing as PaddleDetection's SSDBox and MultiClassNMS: each prior's deltas decoded against it
/// (<see cref="SsdBoxCoder"/>, no clamp), scaled to the original image, softmax over the classes with background (last)
/// dropped, then class-aware NMS (score &gt; 0.01, top 400 per class, IoU 0.45, 200 kept).
/// </summary>
public sealed class SsdDecoder
{
    /// <summary>PaddleDetection's SSDLite MultiClassNMS settings (configs/ssd/_base_/ssdlite_mobilenet_v3_large_320.yml).</summary>
    public static NmsOptions DefaultNms { get; } = new() { ScoreThreshold = 0.01, NmsThreshold = 0.45, NmsTopK = 400, KeepTopK = 200 };

    private readonly float[] _priors;

    /// <param name="priors">[P, 4] normalized x1, y1, x2, y2 (<see cref="SsdPriorBoxes.Generate"/>).</param>
    /// <param name="numClasses">Foreground classes C (the logits have C + 1, background last).</param>
    /// <param name="nms">Suppression settings; <see cref="DefaultNms"/> when null.</param>
    public SsdDecoder(float[] priors, int numClasses, NmsOptions? nms = null)
    {
        if (priors.Length % 4 != 0) throw new ArgumentException($"SsdDecoder: {priors.Length} prior values are not a multiple of 4");
        _priors = priors;
        NumClasses = numClasses;
        Nms = nms ?? DefaultNms;
        Nms.Validate();
    }

    public int NumClasses { get; }
    public NmsOptions Nms { get; }
    public int Priors => _priors.Length / 4;

    /// <summary>The detections of one image from its deltas [P·4] and logits [P·(C + 1)], in pixels of an image of the given size.</summary>
    public List<DetectedBox> Decode(long imageId, ReadOnlySpan<float> deltas, ReadOnlySpan<float> logits, int width, int height)
    {
        int p = Priors, c1 = NumClasses + 1;
        if (deltas.Length != p * 4 || logits.Length != p * c1)
            throw new ArgumentException($"SsdDecoder: {deltas.Length / 4} deltas and {logits.Length / Math.Max(1, c1)} logits rows for {p} priors of {c1} classes");
        var boxes = new float[p * 4];
        var scores = new float[p * NumClasses];
        Span<float> box = stackalloc float[4];
        for (int i = 0; i < p; i++)
        {
            SsdBoxCoder.Decode(_priors.AsSpan(i * 4, 4), deltas.Slice(i * 4, 4), box);
            boxes[i * 4] = box[0] * width;
            boxes[i * 4 + 1] = box[1] * height;
            boxes[i * 4 + 2] = box[2] * width;
            boxes[i * 4 + 3] = box[3] * height;
            var row = logits.Slice(i * c1, c1);
            float max = float.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, v);
            double sum = 0;
            foreach (var v in row) sum += Math.Exp(v - max);
            for (int k = 0; k < NumClasses; k++) scores[i * NumClasses + k] = (float)(Math.Exp(row[k] - max) / sum);
        }
        // IoU without the +1 pixel (PaddleDetection runs NMS on normalized boxes; scaling each axis leaves IoU as it is).
        return MultiClassNms.Apply(imageId, boxes, scores, NumClasses, Nms);
    }
}
