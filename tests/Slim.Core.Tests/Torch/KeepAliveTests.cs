using System.Text.RegularExpressions;

namespace Slim.Core.Tests.Torch;

/// <summary>
/// A temporary that is never disposed (<c>x.sum().item&lt;float&gt;()</c>) is unreachable as soon as its native handle
/// has been read, so the collector may finalize it, and free the native tensor, while the native call given the handle
/// still reads it: a segfault in libtorch_cpu, seen once in a full test run. The window is a few instructions wide, too
/// narrow for a stress test to hit on demand (one that collected garbage on a second thread while reading temporaries
/// passed without the fix in each of eight runs), so this test holds the rule instead: in Tensor.cs, every native call
/// that is given this tensor's handle is wrapped in <c>Kept(…)</c>, which keeps the tensor reachable until it returns.
/// </summary>
public class KeepAliveTests
{
    private static string Source(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"{relative} was not found above {AppContext.BaseDirectory}");
    }

    [Fact]
    public void EveryNativeCallOnATensorKeepsItAlive()
    {
        var lines = File.ReadAllLines(Source(Path.Combine("Slim.Core", "Torch", "Tensor.cs")));
        var call = new Regex(@"NativeMethods\.slim_\w+\(Handle\b");
        var calls = lines.Select((text, i) => (text, line: i + 1)).Where(l => call.IsMatch(l.text)).ToList();
        Assert.True(calls.Count >= 15, $"found only {calls.Count} native calls given Handle in Tensor.cs: has the file moved?");
        var bare = calls.Where(l => !l.text.Contains("Kept(", StringComparison.Ordinal)).Select(l => $"Tensor.cs:{l.line}: {l.text.Trim()}").ToList();
        Assert.True(bare.Count == 0, "native calls not wrapped in Kept(…):\n" + string.Join("\n", bare));
    }
}
