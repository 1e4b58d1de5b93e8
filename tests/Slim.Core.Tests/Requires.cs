using Slim.Data;

namespace Slim.Core.Tests;

/// <summary>
/// References a test needs that the repository does not ship (a Debian dataset, python3-torch). A missing one
/// reports the test as skipped, naming the package (never as passed); ./build.sh test installs them and fails on
/// any skip. Tests that call these are [SkippableFact]/[SkippableTheory].
/// </summary>
internal static class Requires
{
    /// <summary>Fashion-MNIST's train and test idx files in the Debian package's folder.</summary>
    public static bool FashionMnistAvailable => FashionMnist.IsAvailable(FashionMnist.DefaultDirectory, FashionMnistSplit.Train)
        && FashionMnist.IsAvailable(FashionMnist.DefaultDirectory, FashionMnistSplit.Test);

    /// <summary>Skips the calling test when Fashion-MNIST is not installed.</summary>
    public static void FashionMnistData() =>
        Skip.IfNot(FashionMnistAvailable, $"Fashion-MNIST is not installed in {Slim.Data.FashionMnist.DefaultDirectory} (Debian package dataset-fashion-mnist)");
}
