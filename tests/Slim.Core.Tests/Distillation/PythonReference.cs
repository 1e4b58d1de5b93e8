using System.Diagnostics;

namespace Slim.Core.Tests.Distillation;

/// <summary>Runs a reference script with the system python3 and its torch (null when either is missing).</summary>
internal static class PythonReference
{
    private const string Python = "/usr/bin/python3";

    public static string? Run(string script, string stdin)
    {
        if (!File.Exists(Python)) return null;
        var path = Path.Combine(Path.GetTempPath(), $"slim-distill-ref-{Guid.NewGuid():N}.py");
        File.WriteAllText(path, script);
        try
        {
            var psi = new ProcessStartInfo(Python, path)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var p = Process.Start(psi)!;
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode == 3) return null; // the script's "no torch" exit
            if (p.ExitCode != 0) throw new InvalidOperationException($"reference script failed: {error}");
            return output.Result;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
