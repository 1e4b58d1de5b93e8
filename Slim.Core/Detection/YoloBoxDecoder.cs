using Slim.Data;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Detection;

/// <summary>
/// Turns YOLOv3 head outputs into detections in original-image pixels: every cell and anchor gives a box
/// (centre from the cell and the sigmoid offsets, size from the anchor and the exponentiated logits, scaled
/// from the network input to the original image) with class scores objectness × class probability
/// (PaddleDetection's yolo_box), then class-aware NMS per image.
/// </summary>
public sealed class YoloBoxDecoder
{
    /// <summary>Creates the decoder; the options are validated here.</summary>
    public YoloBoxDecoder(YoloBoxDecoderOptions options)
    {
        options.Validate();
        Options = options;
    }

    /// <summary>The settings this decoder was made with.</summary>
    public YoloBoxDecoderOptions Options { get; }

    /// <summary>Detections of each image of the batch, in batch order.</summary>
    /// <param name="outputs">Head outputs [N, A*(5+C), H, W] in the order of the anchor masks.</param>
    /// <param name="infos">One entry per image: original and network-input sizes.</param>
    public IReadOnlyList<IReadOnlyList<DetectedBox>> Decode(IReadOnlyList<Tensor> outputs, IReadOnlyList<ImageInfo> infos)
    {
        float[] boxes, scores;
        long k;
        using (var scope = NewDisposeScope())
        {
            var (b, s) = DecodeBoxes(outputs, infos);
            k = b.shape[1];
            boxes = b.ToFloatArray();
            scores = s.ToFloatArray();
        }
        int c = Options.Geometry.NumClasses;
        var result = new List<IReadOnlyList<DetectedBox>>(infos.Count);
        for (int i = 0; i < infos.Count; i++)
            result.Add(MultiClassNms.Apply(infos[i].ImageId,
                boxes.AsSpan((int)(i * k * 4), (int)(k * 4)),
                scores.AsSpan((int)(i * k * c), (int)(k * c)), c, Options.Nms));
        return result;
    }

    /// <summary>
    /// All candidate boxes before suppression: boxes [N, K, 4] corner form in original-image pixels and
    /// scores [N, K, C], K = sum over outputs of A*H*W (output by output, then anchor, row, column).
    /// Cells below the confidence threshold have a zero box and zero scores.
    /// </summary>
    public (Tensor Boxes, Tensor Scores) DecodeBoxes(IReadOnlyList<Tensor> outputs, IReadOnlyList<ImageInfo> infos)
    {
        var geo = Options.Geometry;
        geo.CheckOutputs(outputs, "YoloBoxDecoder");
        long n = outputs[0].shape[0];
        if (infos.Count != n) throw new ArgumentException($"YoloBoxDecoder: {infos.Count} image infos for a batch of {n}");
        foreach (var info in infos)
            if (info.OriginalWidth <= 0 || info.OriginalHeight <= 0)
                throw new ArgumentException($"YoloBoxDecoder: image {info.ImageId} has original size {info.OriginalWidth}x{info.OriginalHeight}; both must be positive");

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var device = outputs[0].device;
        const ScalarType dt = ScalarType.Float32;
        var imgW = tensor(infos.Select(i => (float)i.OriginalWidth).ToArray(), n, 1, 1, 1).to(device);
        var imgH = tensor(infos.Select(i => (float)i.OriginalHeight).ToArray(), n, 1, 1, 1).to(device);
        double scale = geo.ScaleXY, bias = -0.5 * (scale - 1);
        int c = geo.NumClasses;
        var allBoxes = new List<Tensor>();
        var allScores = new List<Tensor>();
        for (int l = 0; l < outputs.Count; l++)
        {
            var sh = outputs[l].shape;
            long h = sh[2], w = sh[3];
            var mask = geo.AnchorMasks[l];
            long na = mask.Length;
            double stride = geo.DownsampleRatios[l];
            var p = outputs[l].to(dt).view(n, na, 5 + c, h, w).permute(0, 1, 3, 4, 2);     // [N, A, H, W, 5+C]
            var gx = arange(w, dt, device).view(1, 1, 1, w);
            var gy = arange(h, dt, device).view(1, 1, h, 1);
            var aw = tensor(mask.Select(a => (float)geo.Anchors[a][0]).ToArray(), 1, na, 1, 1).to(device);
            var ah = tensor(mask.Select(a => (float)geo.Anchors[a][1]).ToArray(), 1, na, 1, 1).to(device);
            var cx = (p.select(4, 0).sigmoid() * scale + bias + gx) * imgW / w;
            var cy = (p.select(4, 1).sigmoid() * scale + bias + gy) * imgH / h;
            var bw = p.select(4, 2).exp() * aw * imgW / (stride * w);
            var bh = p.select(4, 3).exp() * ah * imgH / (stride * h);
            var x1 = cx - bw * 0.5;
            var y1 = cy - bh * 0.5;
            var x2 = cx + bw * 0.5;
            var y2 = cy + bh * 0.5;
            if (Options.ClipBoxes)
            {
                x1 = x1.clamp_min(0);
                y1 = y1.clamp_min(0);
                x2 = minimum(x2, (imgW - 1).expand_as(x2));
                y2 = minimum(y2, (imgH - 1).expand_as(y2));
            }
            var conf = p.select(4, 4).sigmoid();
            var live = conf.ge(Options.ConfidenceThreshold).to(dt);                            // [N, A, H, W]
            var box = stack(new[] { x1, y1, x2, y2 }, -1) * live.unsqueeze(-1);
            var score = p.narrow(4, 5, c).sigmoid() * (conf * live).unsqueeze(-1);
            allBoxes.Add(box.reshape(n, na * h * w, 4));
            allScores.Add(score.reshape(n, na * h * w, c));
        }
        var boxes = cat(allBoxes.ToArray(), 1).MoveToOuterDisposeScope();
        var scores = cat(allScores.ToArray(), 1).MoveToOuterDisposeScope();
        return (boxes, scores);
    }
}
