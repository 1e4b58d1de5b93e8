using System.Globalization;
using Slim.Compression.Distillation;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Distillation;

/// <summary>Split distillation against PaddleDetection's formulas written in PyTorch, with their channel slicing.</summary>
public class SplitDistillReferenceTests
{
    // Slices channels the way PaddleDetection's _split_output does (strided slices for x, y, w, h,
    // obj; per-anchor slices stacked to [N, A, H, W, C] for the classes), independent of the C# reshape.
    private const string Script = """
        import sys
        try:
            import torch
        except ImportError:
            sys.exit(3)
        import torch.nn.functional as F
        lines = sys.stdin.read().split("\n")
        n, ch, h, w, an = (int(v) for v in lines[0].split())
        s = torch.tensor([float(v) for v in lines[1].split()], dtype=torch.float64).reshape(n, ch, h, w)
        t = torch.tensor([float(v) for v in lines[2].split()], dtype=torch.float64).reshape(n, ch, h, w)
        stride = ch // an
        nc = stride - 5
        def split(o):
            parts = [o[:, k::stride] for k in range(5)]
            cls = torch.stack([o[:, stride * a + 5: stride * a + 5 + nc] for a in range(an)], dim=1).permute(0, 1, 3, 4, 2)
            return parts + [cls]
        sx, sy, sw, sh, so, sc = split(s)
        tx, ty, tw, th, to, tc = split(t)
        bce = lambda z, p: F.binary_cross_entropy_with_logits(z, p, reduction="none")
        reg = bce(sx, torch.sigmoid(tx)) + bce(sy, torch.sigmoid(ty))
        xy = (reg * torch.sigmoid(to)).mean()
        wh = (((sw - tw).abs() + (sh - th).abs()) * torch.sigmoid(to)).mean()
        cls = (bce(sc, torch.sigmoid(tc)) * torch.sigmoid(to).unsqueeze(-1)).mean()
        obj = bce(so, (to > 0).double()).mean()
        print(" ".join(repr(float(v)) for v in (xy, wh, obj, cls)))
        """;

    [SkippableFact]
    public void Split_MatchesPaddleDetectionFormulasInPyTorch()
    {
        using var scope = NewDisposeScope();
        long n = 2, anchors = 3, classes = 2, h = 2, w = 3, ch = anchors * (5 + classes);
        var student = randn(new long[] { n, ch, h, w }, new Generator(11)) * 2;
        var teacher = randn(new long[] { n, ch, h, w }, new Generator(12)) * 2;
        var inv = CultureInfo.InvariantCulture;
        string stdin = $"{n} {ch} {h} {w} {anchors}\n"
            + string.Join(" ", student.data<float>().Select(v => v.ToString("R", inv))) + "\n"
            + string.Join(" ", teacher.data<float>().Select(v => v.ToString("R", inv))) + "\n";
        var reference = PythonReference.Run(Script, stdin);
        Skip.If(reference is null, "/usr/bin/python3 with torch is not installed (Debian package python3-torch)");
        var expected = reference.Trim().Split(' ').Select(v => double.Parse(v, inv)).ToArray();
        var terms = DistillationLosses.Split(student, teacher, (int)anchors);
        Assert.Equal(expected[0], terms.Xy.item<float>(), 1e-5);
        Assert.Equal(expected[1], terms.Wh.item<float>(), 1e-5);
        Assert.Equal(expected[2], terms.Obj.item<float>(), 1e-5);
        Assert.Equal(expected[3], terms.Cls.item<float>(), 1e-5);
    }
}
