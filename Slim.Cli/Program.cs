using System.CommandLine;

namespace Slim.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("Slim: prune, distill, quantize and export detectors and classifiers.");
        return root.Parse(args).Invoke();
    }
}
