using Slim.Data;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Data;

public class InputRenormalizationTests
{
    private static readonly float[] MeanA = { 0.286f, 0.286f, 0.286f }, StdA = { 0.353f, 0.353f, 0.353f };
    private static readonly float[] MeanB = { 0.485f, 0.456f, 0.406f }, StdB = { 0.229f, 0.224f, 0.225f };

    // Pixels in [0, 1] normalized channel by channel, element by element (the reference).
    private static float[] Normalize(float[] pixels, int channels, float[] mean, float[] std)
    {
        int plane = pixels.Length / channels;
        return pixels.Select((p, i) => (p - mean[i / plane % channels]) / std[i / plane % channels]).ToArray();
    }

    [Fact]
    public void ABatchNormalizedOneWayComesOutNormalizedTheOther()
    {
        // One image of 3×4×5 pixels (batch of 1, so the channel of element i is i / 20).
        var rng = new Random(5);
        var pixels = Enumerable.Range(0, 60).Select(_ => (float)rng.NextDouble()).ToArray();
        using var x = tensor(Normalize(pixels, 3, MeanA, StdA), 1, 3, 4, 5);
        var r = InputRenormalization.Between(MeanA, StdA, MeanB, StdB)!;
        using var y = r.Apply(x);
        var expected = Normalize(pixels, 3, MeanB, StdB);
        var got = y.ToFloatArray();
        for (int i = 0; i < 60; i++) Assert.Equal(expected[i], got[i], 4);
        Assert.Equal(new long[] { 1, 3, 4, 5 }, y.shape);
        Assert.Contains("mean 0.286, 0.286, 0.286, std 0.353, 0.353, 0.353 → mean 0.485, 0.456, 0.406, std 0.229, 0.224, 0.225", r.ToString());
    }

    [Fact]
    public void SameStatisticsNeedNoMapAndBadOnesAreRefused()
    {
        Assert.Null(InputRenormalization.Between(MeanA, StdA, MeanA.ToArray(), StdA.ToArray()));
        Assert.Throws<ArgumentException>(() => InputRenormalization.Between(MeanA, StdA, new[] { 0.5f }, new[] { 0.5f }));
        Assert.Throws<ArgumentException>(() => InputRenormalization.Between(MeanA, StdA, MeanB, new[] { 0.2f, 0f, 0.2f }));
        var r = InputRenormalization.Between(MeanA, StdA, MeanB, StdB)!;
        using var gray = zeros(1, 1, 4, 4);
        Assert.Throws<ArgumentException>(() => r.Apply(gray));
    }
}
