using Slim.Detection;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Detection;

public class BoxUtilsTests
{
    [Fact]
    public void XywhAndXyxyRoundTrip()
    {
        using var scope = NewDisposeScope();
        var xywh = tensor(new float[] { 5, 6, 4, 2, 0.5f, 0.5f, 1, 1 }, 2, 4);
        var xyxy = BoxUtils.XywhToXyxy(xywh);
        Assert.Equal(new float[] { 3, 5, 7, 7, 0, 0, 1, 1 }, xyxy.ToFloatArray());
        Assert.Equal(xywh.ToFloatArray(), BoxUtils.XyxyToXywh(xyxy).ToFloatArray());
        Assert.Throws<ArgumentException>(() => BoxUtils.XywhToXyxy(zeros(2, 3)));
    }

    [Fact]
    public void TensorIouMatchesPlainIouIncludingEmptyBoxes()
    {
        using var scope = NewDisposeScope();
        var rng = new Random(5);
        var a = Enumerable.Range(0, 7).Select(_ => RandomBox(rng)).Append(new Box(3, 3, 3, 3)).ToArray();
        var b = Enumerable.Range(0, 5).Select(_ => RandomBox(rng)).Append(new Box(0, 0, 0, 0)).ToArray();
        var ta = tensor(a.SelectMany(x => new[] { x.X1, x.Y1, x.X2, x.Y2 }).ToArray(), 1, a.Length, 4);
        var tb = tensor(b.SelectMany(x => new[] { x.X1, x.Y1, x.X2, x.Y2 }).ToArray(), 1, b.Length, 4);
        var got = BoxUtils.PairwiseIou(ta, tb).data<double>();
        var want = BoxUtils.PairwiseIou(a, b);
        for (int i = 0; i < a.Length; i++)
            for (int j = 0; j < b.Length; j++)
                Assert.Equal(want[i, j], got[i * b.Length + j], 12);
        Assert.Equal(0, want[a.Length - 1, b.Length - 1]);
        // [0,10]² and [5,15]x[0,10]: 50 / 150.
        Assert.Equal(1.0 / 3, BoxUtils.Iou(new Box(0, 0, 10, 10), new Box(5, 0, 15, 10)), 12);
        // Inclusive pixels: 6*11 / (2*121 - 66).
        Assert.Equal(66.0 / 176, BoxUtils.Iou(new Box(0, 0, 10, 10), new Box(5, 0, 15, 10), pixelInclusive: true), 12);
    }

    private static Box RandomBox(Random r)
    {
        double x = r.NextDouble() * 10, y = r.NextDouble() * 10;
        return new Box(x, y, x + r.NextDouble() * 8, y + r.NextDouble() * 8);
    }
}
