using Slim.Detection;
using static Slim.Export.OnnxGraphBuilder;

namespace Slim.Export;

/// <summary>What the SSD post-processing in the graph needs: the priors, the class count and the suppression settings.</summary>
/// <param name="Priors">[P·4] normalized x1, y1, x2, y2, in the order of the model's rows.</param>
/// <param name="NumClasses">Foreground classes C (the logits have C + 1, background last).</param>
/// <param name="Nms">MultiClassNMS settings (<see cref="SsdDecoder.DefaultNms"/>).</param>
public sealed record SsdPostprocessOptions(float[] Priors, int NumClasses, NmsOptions Nms);

/// <summary>
/// SSD decoding (<see cref="SsdDecoder"/>'s arithmetic: centre + variance·delta·size, size·e^(variance·delta), scaled to the
/// original image) and softmax scores written as ONNX operators after the two outputs (deltas [N, P, 4], logits
/// [N, P, C + 1]), then the suppression and output layout of <see cref="YoloPostprocessGraph"/>: the same inputs
/// (images, scale_factor) and outputs (num_detections, detection_boxes, detection_scores, detection_classes).
/// </summary>
public static class SsdPostprocessGraph
{
    internal static (string[] Outputs, long Slots) Append(OnnxGraphBuilder g, IReadOnlyList<string> outputs, IReadOnlyList<long[]> shapes, long inputSize, SsdPostprocessOptions options)
    {
        options.Nms.Validate();
        if (!options.Nms.Normalized)
            throw new ArgumentException("postprocess: ONNX NonMaxSuppression measures continuous boxes; NmsOptions.Normalized must be true");
        int c = options.NumClasses;
        long p = options.Priors.Length / 4;
        if (outputs.Count != 2 || shapes[0].Length != 3 || shapes[0][1] != p || shapes[0][2] != 4 || shapes[1].Length != 3 || shapes[1][1] != p || shapes[1][2] != c + 1)
            throw new ArgumentException($"postprocess: an SSD gives deltas [N, {p}, 4] and logits [N, {p}, {c + 1}], got {string.Join(" and ", shapes.Select(s => $"[{string.Join(", ", s)}]"))}");
        // Priors as centres and sizes, [1, P, 2] each.
        var centre = new float[p * 2];
        var size = new float[p * 2];
        for (long i = 0; i < p; i++)
        {
            float x1 = options.Priors[i * 4], y1 = options.Priors[i * 4 + 1], x2 = options.Priors[i * 4 + 2], y2 = options.Priors[i * 4 + 3];
            centre[i * 2] = (x1 + x2) / 2;
            centre[i * 2 + 1] = (y1 + y2) / 2;
            size[i * 2] = x2 - x1;
            size[i * 2 + 1] = y2 - y1;
        }
        var centreC = g.Floats("post/prior_centre", centre, 1, p, 2);
        var sizeC = g.Floats("post/prior_size", size, 1, p, 2);
        var v = SsdBoxCoder.DefaultVariances;
        string Slice(string name, long start, long end) => g.Node("Slice", $"post/{name}", new[] { outputs[0], g.Longs(start), g.Longs(end), g.Longs(2) });
        var dxy = g.Node("Mul", "post/dxy_var", new[] { Slice("dxy", 0, 2), g.FloatVector((float)v[0], (float)v[1]) });
        var xy = g.Node("Add", "post/xy", new[] { centreC, g.Node("Mul", "post/dxy_size", new[] { dxy, sizeC }) });
        var dwh = g.Node("Mul", "post/dwh_var", new[] { Slice("dwh", 2, 4), g.FloatVector((float)v[2], (float)v[3]) });
        var wh = g.Node("Mul", "post/wh", new[] { sizeC, g.Node("Exp", "post/wh_exp", new[] { dwh }) });
        var half = g.Node("Mul", "post/half_wh", new[] { wh, g.Scalar(0.5f) });
        var box = g.Node("Concat", "post/corners", new[]
        {
            g.Node("Sub", "post/x1y1", new[] { xy, half }),
            g.Node("Add", "post/x2y2", new[] { xy, half }),
        }, Attr("axis", 2L));
        // Normalized → original pixels: × input size / scale factor, per axis (x with width, y with height).
        g.Reserve(YoloPostprocessGraph.ScaleFactorName);
        var sf4 = g.Node("Gather", "post/scale_xyxy", new[] { YoloPostprocessGraph.ScaleFactorName, g.Longs(1, 0, 1, 0) }, Attr("axis", 1L));
        sf4 = g.Node("Unsqueeze", "post/scale_unsqueeze", new[] { sf4, g.Longs(1) });
        box = g.Node("Div", "post/box_original", new[] { g.Node("Mul", "post/box_input", new[] { box, g.Scalar(inputSize) }), sf4 });
        // Scores: softmax over the C + 1 logits, background (last) dropped, by class: [N, C, P].
        var prob = g.Node("Softmax", "post/softmax", new[] { outputs[1] }, Attr("axis", 2L));
        var fg = g.Node("Slice", "post/foreground", new[] { prob, g.Longs(0), g.Longs(c), g.Longs(2) });
        var scores = g.Node("Transpose", "post/scores_by_class", new[] { fg }, Attr("perm", new long[] { 0, 2, 1 }));
        return YoloPostprocessGraph.AppendNms(g, box, scores, c, p, options.Nms);
    }
}
