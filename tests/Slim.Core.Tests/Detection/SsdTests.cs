using System.Globalization;
using System.Text.Json;
using Slim.Core.Tests.Distillation;
using Slim.Detection;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Detection;

/// <summary>SSD priors, box coding and the multibox loss: hand-computed cases, and PaddleDetection's SSDLoss written in PyTorch.</summary>
public class SsdTests
{
    [Fact]
    public void SsdLite320HasPaddleDetectionsSizesAnd2434Priors()
    {
        var o = SsdPriorOptions.SsdLite320;
        var (min, max) = o.Sizes();
        // min_ratio 20, max_ratio 95 over 6 maps: step floor(75 / 4) = 18, ratios 20, 38, 56, 74, 92 of 320, after 10 % / 20 %.
        Assert.Equal(new[] { 32, 64, 121.6, 179.2, 236.8, 294.4 }, min.Select(v => Math.Round(v, 6)));
        Assert.Equal(new[] { 64, 121.6, 179.2, 236.8, 294.4, 352 }, max.Select(v => Math.Round(v, 6)));
        Assert.Equal(new[] { 4, 6, 6, 6, 6, 6 }, SsdPriorBoxes.PriorsPerCell(o));
        var priors = SsdPriorBoxes.Generate(o, [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)], 320, 320);
        Assert.Equal(4 * (400 * 4 + 100 * 6 + 25 * 6 + 9 * 6 + 4 * 6 + 6), priors.Length);
        Assert.All(priors, v => Assert.InRange(v, 0f, 1f)); // clipped
        Assert.Equal(new[] { 1, 2, 0.5, 3, 1 / 3.0 }, SsdPriorBoxes.ExpandAspectRatios([2, 3], flip: true));
        Assert.Equal(new[] { 1, 2.0 }, SsdPriorBoxes.ExpandAspectRatios([2, 1, 2], flip: false));
    }

    [Fact]
    public void PriorsOfOneCellAreTheHandComputedBoxesInPaddlesTwoOrders()
    {
        // One 1×1 map over a 100 px image, step 100, centre 50: min size 40, max size 90, ratio 2 flipped.
        var o = new SsdPriorOptions { Steps = [100], AspectRatios = [[2.0]], MinSizes = [40], MaxSizes = [90], Clip = false };
        float[] Box(double w, double h) => [(float)((50 - w / 2) / 100), (float)((50 - h / 2) / 100), (float)((50 + w / 2) / 100), (float)((50 + h / 2) / 100)];
        double r = Math.Sqrt(2), big = Math.Sqrt(40 * 90.0);
        float[] square = Box(40, 40), wide = Box(40 * r, 40 / r), tall = Box(40 / r, 40 * r), large = Box(big, big);
        Assert.Equal(square.Concat(wide).Concat(tall).Concat(large), SsdPriorBoxes.Generate(o, [(1, 1)], 100, 100));
        Assert.Equal(square.Concat(large).Concat(wide).Concat(tall), SsdPriorBoxes.Generate(o with { MinMaxAspectRatiosOrder = true }, [(1, 1)], 100, 100));
        // Offset 0.5 on a 2×1 map: centres at 25 and 75 px.
        var two = SsdPriorBoxes.Generate(o with { Steps = [50], MaxSizes = [], AspectRatios = [[]] }, [(1, 2)], 50, 100);
        Assert.Equal(new[] { 0.05f, 0.1f, 0.45f, 0.9f, 0.55f, 0.1f, 0.95f, 0.9f }, two.Select(v => MathF.Round(v, 6)));
    }

    [Fact]
    public void BoxCodingIsPaddleDetectionsAndDecodingInvertsIt()
    {
        float[] prior = [0.2f, 0.2f, 0.6f, 0.4f]; // centre (0.4, 0.3), 0.4 × 0.2
        float[] box = [0.3f, 0.25f, 0.7f, 0.45f];  // centre (0.5, 0.35), 0.4 × 0.2
        var d = new float[4];
        SsdBoxCoder.Encode(prior, box, d);
        // (0.5 − 0.4) / 0.4 / 0.1 = 2.5, (0.35 − 0.3) / 0.2 / 0.1 = 2.5, ln 1 / 0.2 = 0.
        Assert.Equal(new[] { 2.5f, 2.5f, 0, 0 }, d.Select(v => MathF.Round(v, 5)));
        float[] wide = [0.1f, 0.1f, 0.9f, 0.3f];
        SsdBoxCoder.Encode(prior, wide, d);
        Assert.Equal(Math.Log(2) / 0.2, d[2], 5);
        var back = new float[4];
        SsdBoxCoder.Decode(prior, d, back);
        for (int i = 0; i < 4; i++) Assert.Equal(wide[i], back[i], 5);
    }

    [Fact]
    public void MatchingGivesEachBoxItsBestPriorAndThresholdsTheRest()
    {
        float[] priors = [0, 0, 0.5f, 0.5f, 0.5f, 0, 1, 0.5f, 0, 0.5f, 0.5f, 1, 0.5f, 0.5f, 1, 1];
        // Box 0 overlaps prior 0 at IoU 2/3 (a positive) and prior 1 at 1/4 (not); box 1 overlaps prior 3 only at IoU
        // 1/4, below the threshold, yet takes prior 3 as its best.
        float[] boxes = [0, 0, 0.75f, 0.5f, 0.75f, 0.75f, 1, 1];
        var t = SsdLoss.Match(priors, boxes, [2, 0], numClasses: 3);
        Assert.Equal(new long[] { 2, 3, 3, 0 }, t.Labels);
        Assert.NotEqual(0f, t.Deltas[0]); // box 0 is wider than prior 0: dx > 0
        Assert.Equal(new float[4], t.Deltas.AsSpan(4, 4).ToArray()); // negatives carry no deltas
        var none = SsdLoss.Match(priors, [], [], numClasses: 3);
        Assert.All(none.Labels, l => Assert.Equal(3, l));
    }

    private const string Reference = """
        import sys, json
        try:
            import torch
        except ImportError:
            sys.exit(3)
        import torch.nn.functional as F
        d = json.load(sys.stdin)
        priors = torch.tensor(d["priors"], dtype=torch.float64).reshape(-1, 4)
        P, C1 = priors.shape[0], d["classes"] + 1
        bg = C1 - 1
        N = len(d["images"])
        loc = torch.tensor(d["loc"], dtype=torch.float64).reshape(N, P, 4)
        scores = torch.tensor(d["scores"], dtype=torch.float64).reshape(N, P, C1)
        def iou(a, b):
            lt = torch.max(a[:, None, :2], b[None, :, :2]); rb = torch.min(a[:, None, 2:], b[None, :, 2:])
            wh = (rb - lt).clamp(min=0); inter = wh[..., 0] * wh[..., 1]
            area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
            return inter / (area(a)[:, None] + area(b)[None, :] - inter)
        def centre(x):
            w, h = x[:, 2] - x[:, 0], x[:, 3] - x[:, 1]
            return x[:, 0] + 0.5 * w, x[:, 1] + 0.5 * h, w, h
        labels, deltas = [], []
        for img in d["images"]:
            label = torch.full((P,), bg, dtype=torch.long); target = torch.zeros(P, 4, dtype=torch.float64)
            if img["classes"]:
                boxes = torch.tensor(img["boxes"], dtype=torch.float64).reshape(-1, 4); cls = torch.tensor(img["classes"])
                ious = iou(boxes, priors)
                pmax, parg = ious.max(0)
                gmax, garg = ious.max(1)
                label = torch.where(pmax < 0.5, torch.full_like(label, bg), cls[parg]); target = boxes[parg].clone()
                for i in range(len(cls)):
                    label[garg[i]] = cls[i]; target[garg[i]] = boxes[i]
            px, py, pw, ph = centre(priors); gx, gy, gw, gh = centre(target)
            deltas.append(torch.stack([(gx - px) / pw * 10, (gy - py) / ph * 10, torch.log(gw / pw) * 5, torch.log(gh / ph) * 5], -1))
            labels.append(label)
        labels = torch.stack(labels); deltas = torch.stack(deltas)
        pos = labels != bg
        conf = F.cross_entropy(scores.reshape(-1, C1), labels.reshape(-1), reduction="none").reshape(N, P)
        rank = (conf * (~pos)).argsort(1, descending=True).argsort(1)
        num_pos = pos.sum(1).double()
        num_neg = torch.where(num_pos > 0, (num_pos * 3).clamp(max=P), torch.full_like(num_pos, P * 0.01))
        keep = (rank.double() < num_neg[:, None]) | pos
        norm = max(1, int(pos.sum()))
        loc_loss = F.smooth_l1_loss(loc[pos], deltas[pos], reduction="sum", beta=1.0) / norm
        conf_loss = conf[keep].sum() / norm
        print(repr(float(loc_loss)), repr(float(conf_loss)))
        """;

    [SkippableFact]
    public void TheLossIsPaddleDetectionsSsdLossWrittenInPyTorch()
    {
        var priors = SsdPriorBoxes.Generate(new SsdPriorOptions { Steps = [16, 32], AspectRatios = [[2.0], [2.0, 3.0]], MinSizes = [16, 40], MaxSizes = [40, 64] },
            [(4, 4), (2, 2)], 64, 64);
        int p = priors.Length / 4, classes = 3;
        var images = new[]
        {
            (Boxes: new float[] { 0.1f, 0.1f, 0.45f, 0.5f, 0.5f, 0.55f, 0.95f, 0.9f, 0.05f, 0.6f, 0.3f, 0.95f }, Classes: new long[] { 0, 2, 1 }),
            (Boxes: Array.Empty<float>(), Classes: Array.Empty<long>()), // an image without boxes keeps 1 % of its priors as negatives
            (Boxes: new float[] { 0.3f, 0.2f, 0.8f, 0.7f }, Classes: new long[] { 1 }),
        };
        using var scope = NewDisposeScope();
        var loc = randn(new long[] { images.Length, p, 4 }, new Generator(3));
        var scores = randn(new long[] { images.Length, p, classes + 1 }, new Generator(4)) * 2;
        var targets = images.Select(i => SsdLoss.Match(priors, i.Boxes, i.Classes, classes)).ToList();
        var (total, l, c) = SsdLoss.Compute(loc, scores, targets);

        var stdin = JsonSerializer.Serialize(new
        {
            priors, classes, loc = loc.data<float>().ToArray(), scores = scores.data<float>().ToArray(),
            images = images.Select(i => new { boxes = i.Boxes, classes = i.Classes }),
        });
        var reference = PythonReference.Run(Reference, stdin);
        Skip.If(reference is null, "/usr/bin/python3 with torch is not installed (Debian package python3-torch)");
        var want = reference.Trim().Split(' ').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(want[0], l.item<float>(), 4);
        Assert.Equal(want[1], c.item<float>(), 4);
        Assert.Equal(want[0] + want[1], total.item<float>(), 4);
        Assert.True(targets[0].Labels.Count(x => x != classes) >= 3, "every box has at least its best prior");
    }
}
