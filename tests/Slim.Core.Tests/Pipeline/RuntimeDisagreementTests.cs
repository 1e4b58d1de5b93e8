using Slim.Pipeline;

namespace Slim.Core.Tests.Pipeline;

/// <summary>The runner warns when the INT8 file in ONNX Runtime scores other than the fake-quantized model.</summary>
public class RuntimeDisagreementTests
{
    private static VerifyOutcome Outcome(double int8Ap) => new()
    {
        Metric = "top-1 accuracy", BaselineAp = 0.8, MaxDrop = 0.05, Threads = 1, WarmupRuns = 1, LatencyRuns = 2, ValImages = 100,
        Models = new[]
        {
            new VerifiedModel("fp32", "a.onnx", 0.80, 0.0, 1, 10, true),
            new VerifiedModel("int8", "b.onnx", int8Ap, 0.8 - int8Ap, 1, 5, true),
        },
    };

    [Fact]
    public void AGapOfMoreThanAPointIsNamedWithWhatToTry()
    {
        var warning = RecipeRunner.RuntimeDisagreement(Outcome(0.138), 0.636, "top-1 accuracy");
        Assert.NotNull(warning);
        Assert.StartsWith("warning: the INT8 model scores 13.80 % in ONNX Runtime but 63.60 % fake-quantized", warning);
        Assert.Contains("49.80 pts apart", warning);
        Assert.Contains("quant.weight_bits", warning);
        Assert.Contains("quant.not_quant", warning);
    }

    [Fact]
    public void AgreementOrNoQuantStageSaysNothing()
    {
        Assert.Null(RecipeRunner.RuntimeDisagreement(Outcome(0.63), 0.636, "top-1 accuracy"));
        Assert.Null(RecipeRunner.RuntimeDisagreement(Outcome(0.10), null, "top-1 accuracy"));
    }
}
