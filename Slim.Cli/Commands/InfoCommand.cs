using System.CommandLine;
using Slim.Torch;

namespace Slim.Cli.Commands;

/// <summary>`slim info`: versions, threads and devices of this installation.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var cmd = new Command("info", "Show the Slim, libtorch and device information.\n\nExample:\n  slim info");
        cmd.SetAction(_ => CliRunner.Run(() => Execute(Console.Out)));
        return cmd;
    }

    public static ExitCode Execute(TextWriter output)
    {
        var version = typeof(InfoCommand).Assembly.GetName().Version;
        output.WriteLine($"slim      {version?.ToString(3)}");
        output.WriteLine($"libtorch  {torch.Version}");
        output.WriteLine($"threads   {torch.get_num_threads()}");
        output.WriteLine($"cuda      {(torch.cuda.is_available() ? $"{torch.cuda.device_count()} device(s)" : "not available")}");
        return ExitCode.Ok;
    }
}
