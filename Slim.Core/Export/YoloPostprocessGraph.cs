using Onnx;
using Slim.Detection;
using static Slim.Export.OnnxGraphBuilder;

namespace Slim.Export;

/// <summary>
/// The YOLOv3 post-processing written as ONNX operators after the head outputs: box decoding
/// (PaddleDetection's yolo_box, the same arithmetic as <see cref="YoloBoxDecoder"/>) and class-aware
/// NonMaxSuppression with MultiClassNMS's limits, so that the exported model returns detections.
/// <para>
/// Inputs: the images and <see cref="ScaleFactorName"/> [N, 2] = (input height / original height,
/// input width / original width), PaddleDetection's scale_factor; boxes come back in original-image pixels.
/// Outputs (TensorRT EfficientNMS's layout, best first over all classes): <see cref="NumDetectionsName"/>
/// [N, 1] int64, <see cref="BoxesName"/> [N, T, 4] (x1, y1, x2, y2), <see cref="ScoresName"/> [N, T] and
/// <see cref="ClassesName"/> [N, T] int64, T = keep_top_k (or every candidate when it is -1). Slots past an
/// image's count hold a zero box, score 0 and class -1.
/// </para>
/// </summary>
public static class YoloPostprocessGraph
{
    /// <summary>Name of the second graph input.</summary>
    public const string ScaleFactorName = "scale_factor";

    /// <summary>Detections per image, [N, 1] int64.</summary>
    public const string NumDetectionsName = "num_detections";

    /// <summary>Boxes in original-image pixels, [N, T, 4] (x1, y1, x2, y2).</summary>
    public const string BoxesName = "detection_boxes";

    /// <summary>Scores (objectness × class probability), [N, T], descending.</summary>
    public const string ScoresName = "detection_scores";

    /// <summary>Class ids, [N, T] int64 (-1 in empty slots).</summary>
    public const string ClassesName = "detection_classes";

    /// <summary>The graph's output names, in order.</summary>
    public static readonly IReadOnlyList<string> OutputNames = new[] { NumDetectionsName, BoxesName, ScoresName, ClassesName };

    /// <summary>Throws <see cref="ArgumentException"/> when the settings cannot be expressed in the graph.</summary>
    public static void Validate(YoloBoxDecoderOptions options)
    {
        options.Validate();
        if (!(options.Nms.ScoreThreshold >= 0))
            throw new ArgumentException($"postprocess: the NMS score threshold must be at least 0 in the graph, got {options.Nms.ScoreThreshold}");
        if (!options.Nms.Normalized)
            throw new ArgumentException("postprocess: ONNX NonMaxSuppression measures continuous boxes; NmsOptions.Normalized must be true");
    }

    /// <summary>
    /// Appends the decoding and suppression to <paramref name="g"/> after the head outputs
    /// <paramref name="heads"/> (each [N, A·(5+C), H, W], in the geometry's order) and returns the four
    /// output values (named by the caller with Identity nodes) and T, the slots per image.
    /// </summary>
    internal static (string[] Outputs, long Slots) Append(OnnxGraphBuilder g, IReadOnlyList<string> heads, IReadOnlyList<long[]> headShapes, long inputSize, YoloBoxDecoderOptions options)
    {
        Validate(options);
        var geo = options.Geometry;
        int c = geo.NumClasses;
        if (heads.Count != geo.AnchorMasks.Count)
            throw new ArgumentException($"postprocess: the model has {heads.Count} outputs, the YOLO geometry {geo.AnchorMasks.Count} levels");

        // Per level: [N, A(5+C), H, W] → [N, A·H·W, 5+C], plus the constant cell offsets, strides and anchors of each row.
        var flat = new List<string>();
        var grid = new List<float>();
        var stride = new List<float>();
        var anchor = new List<float>();
        double scale = geo.ScaleXY, bias = -0.5 * (scale - 1);
        for (int l = 0; l < heads.Count; l++)
        {
            var s = headShapes[l];
            if (s.Length != 4 || s[1] != geo.ChannelsOf(l))
                throw new ArgumentException($"postprocess: head output {l} has shape [{string.Join(", ", s)}], expected [N, {geo.ChannelsOf(l)}, H, W]");
            long h = s[2], w = s[3], na = geo.AnchorMasks[l].Length;
            double st = (double)inputSize / w;  // input pixels per cell (the decoder's imgW / w at scale factor 1)
            var p = g.Node("Reshape", $"post/l{l}/reshape5", new[] { heads[l], g.Longs(0, na, 5 + c, h, w) });
            p = g.Node("Transpose", $"post/l{l}/transpose", new[] { p }, Attr("perm", new long[] { 0, 1, 3, 4, 2 }));
            flat.Add(g.Node("Reshape", $"post/l{l}/reshape3", new[] { p, g.Longs(0, na * h * w, 5 + c) }));
            foreach (var a in geo.AnchorMasks[l])
                for (long y = 0; y < h; y++)
                    for (long x = 0; x < w; x++)
                    {
                        grid.Add((float)((x + bias) * st));
                        grid.Add((float)((y + bias) * (double)inputSize / h));
                        stride.Add((float)(scale * st));
                        stride.Add((float)(scale * inputSize / h));
                        anchor.Add((float)(geo.Anchors[a][0] * st / geo.DownsampleRatios[l]));
                        anchor.Add((float)(geo.Anchors[a][1] * ((double)inputSize / h) / geo.DownsampleRatios[l]));
                    }
        }
        long k = grid.Count / 2;
        var pred = flat.Count == 1 ? flat[0] : g.Node("Concat", "post/concat", flat, Attr("axis", 1L));

        string Slice(string name, long start, long end) =>
            g.Node("Slice", $"post/{name}", new[] { pred, g.Longs(start), g.Longs(end), g.Longs(2) });
        var gridC = g.Floats("post/grid", grid.ToArray(), 1, k, 2);
        var strideC = g.Floats("post/stride", stride.ToArray(), 1, k, 2);
        var anchorC = g.Floats("post/anchor", anchor.ToArray(), 1, k, 2);

        // Centres and sizes in input pixels: (σ(t_xy)·scale + bias + cell)·stride and e^(t_wh)·anchor.
        var xy = g.Node("Sigmoid", "post/xy_sigmoid", new[] { Slice("txy", 0, 2) });
        xy = g.Node("Add", "post/xy", new[] { g.Node("Mul", "post/xy_scaled", new[] { xy, strideC }), gridC });
        var wh = g.Node("Mul", "post/wh", new[] { g.Node("Exp", "post/wh_exp", new[] { Slice("twh", 2, 4) }), anchorC });
        var half = g.Node("Mul", "post/half_wh", new[] { wh, g.Scalar(0.5f) });
        var box = g.Node("Concat", "post/corners", new[]
        {
            g.Node("Sub", "post/x1y1", new[] { xy, half }),
            g.Node("Add", "post/x2y2", new[] { xy, half }),
        }, Attr("axis", 2L));

        // To original pixels: divide by (sx, sy, sx, sy); the original size is input size / scale factor.
        g.Reserve(ScaleFactorName);
        var sf4 = g.Node("Gather", "post/scale_xyxy", new[] { ScaleFactorName, g.Longs(1, 0, 1, 0) }, Attr("axis", 1L));
        sf4 = g.Node("Unsqueeze", "post/scale_unsqueeze", new[] { sf4, g.Longs(1) });
        box = g.Node("Div", "post/box_original", new[] { box, sf4 });
        if (options.ClipBoxes)
        {
            // x1, y1 ≥ 0; x2 ≤ width − 1, y2 ≤ height − 1 (as the decoder clips).
            box = g.Node("Max", "post/clip_low", new[] { box, g.Floats("post/low", new[] { 0f, 0f, float.NegativeInfinity, float.NegativeInfinity }, 1, 1, 4) });
            var size = g.Node("Div", "post/original_size", new[] { g.Scalar(inputSize), sf4 });
            var high = g.Node("Add", "post/high", new[]
            {
                g.Node("Sub", "post/size_minus_one", new[] { size, g.Scalar(1f) }),
                g.Floats("post/high_open", new[] { float.PositiveInfinity, float.PositiveInfinity, 0f, 0f }, 1, 1, 4),
            });
            box = g.Node("Min", "post/clip_high", new[] { box, high });
        }

        // Scores: objectness × class probability, zero (with a zero box) where objectness is below the cut.
        var conf = g.Node("Sigmoid", "post/objectness", new[] { Slice("tobj", 4, 5) });
        var live = g.Node("Cast", "post/live", new[] { g.Node("GreaterOrEqual", "post/live_cmp", new[] { conf, g.Scalar((float)options.ConfidenceThreshold) }) },
            Attr("to", (long)TensorProto.Types.DataType.Float));
        box = g.Node("Mul", "post/box_live", new[] { box, live });
        var cls = g.Node("Sigmoid", "post/class_prob", new[] { Slice("tcls", 5, 5 + c) });
        var scores = g.Node("Mul", "post/scores", new[] { cls, g.Node("Mul", "post/conf_live", new[] { conf, live }) });
        scores = g.Node("Transpose", "post/scores_by_class", new[] { scores }, Attr("perm", new long[] { 0, 2, 1 }));   // [N, C, K]
        return AppendNms(g, box, scores, c, k, options.Nms);
    }

    /// <summary>
    /// Appends MultiClassNMS (nms_top_k per class, class-aware NonMaxSuppression, keep_top_k over all classes) after
    /// <paramref name="box"/> [N, K, 4] corners in original pixels and <paramref name="scores"/> [N, C, K], and returns
    /// the four outputs in this class's layout and T, the slots per image. The SSD post-processing shares it.
    /// </summary>
    internal static (string[] Outputs, long Slots) AppendNms(OnnxGraphBuilder g, string box, string scores, int c, long k, NmsOptions nms)
    {
        // MultiClassNMS's nms_top_k: only the best candidates of each class enter the suppression.
        if (nms.NmsTopK > -1 && nms.NmsTopK < k)
        {
            var top = g.NodeMulti("TopK", "post/nms_top_k", new[] { scores, g.Longs(nms.NmsTopK) }, 2, Attr("axis", 2L))[0];
            var kth = g.Node("Slice", "post/nms_top_k_last", new[] { top, g.Longs(nms.NmsTopK - 1), g.Longs(nms.NmsTopK), g.Longs(2) });
            scores = g.Node("Where", "post/nms_top_k_keep", new[] { g.Node("GreaterOrEqual", "post/nms_top_k_cmp", new[] { scores, kth }), scores, g.Scalar(0f) });
        }
        long perClass = nms.KeepTopK > -1 ? nms.KeepTopK : k;
        var selected = g.Node("NonMaxSuppression", "post/nms", new[]
        {
            box, scores, g.Longs(perClass), g.FloatVector((float)nms.NmsThreshold), g.FloatVector((float)nms.ScoreThreshold),
        });

        // keep_top_k over all classes: the kept scores in a dense [N, C·K] map (−1 elsewhere), then TopK.
        var keptScores = g.Node("GatherND", "post/kept_scores", new[] { scores, selected });
        var empty = g.Node("ConstantOfShape", "post/dense_empty", new[] { g.Node("Shape", "post/scores_shape", new[] { scores }) },
            new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = MinusOne() });
        var dense = g.Node("ScatterND", "post/dense", new[] { empty, selected, keptScores });
        dense = g.Node("Reshape", "post/dense_flat", new[] { dense, g.Longs(0, c * k) });
        long slots = nms.KeepTopK > -1 ? Math.Min(nms.KeepTopK, c * k) : c * k;
        var topk = g.NodeMulti("TopK", "post/keep_top_k", new[] { dense, g.Longs(slots) }, 2, Attr("axis", 1L));
        var valid = g.Node("GreaterOrEqual", "post/valid", new[] { topk[0], g.Scalar(0f) });
        var classIds = g.Node("Div", "post/class_of", new[] { topk[1], g.LongScalar(k) });
        var boxIds = g.Node("Mod", "post/box_of", new[] { topk[1], g.LongScalar(k) });
        var picked = g.Node("GatherND", "post/picked_boxes", new[] { box, g.Node("Unsqueeze", "post/box_ids", new[] { boxIds, g.Longs(2) }) }, Attr("batch_dims", 1L));
        var validF = g.Node("Cast", "post/valid_float", new[] { valid }, Attr("to", (long)TensorProto.Types.DataType.Float));
        var outBoxes = g.Node("Mul", "post/boxes", new[] { picked, g.Node("Unsqueeze", "post/valid_box", new[] { validF, g.Longs(2) }) });
        var outScores = g.Node("Where", "post/scores_out", new[] { valid, topk[0], g.Scalar(0f) });
        var outClasses = g.Node("Where", "post/classes_out", new[] { valid, classIds, g.LongScalar(-1) });
        var count = g.Node("ReduceSum", "post/count", new[]
        {
            g.Node("Cast", "post/valid_long", new[] { valid }, Attr("to", (long)TensorProto.Types.DataType.Int64)), g.Longs(1),
        }, Attr("keepdims", 1L));
        return (new[] { count, outBoxes, outScores, outClasses }, slots);
    }

    private static TensorProto MinusOne()
    {
        var t = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.Add(1);
        t.FloatData.Add(-1f);
        return t;
    }
}
