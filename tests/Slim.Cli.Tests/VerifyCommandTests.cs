using System.Text.Json;
using Slim.Cli.Commands;
using Slim.Pipeline;

namespace Slim.Cli.Tests;

public class VerifyCommandTests(CliExportRun run) : IClassFixture<CliExportRun>
{
    private string Exported()
    {
        var dir = run.NewDir("export");
        Assert.Equal((int)ExitCode.Ok, CliExportRun.Slim("export", "--checkpoint", run.Checkpoint, "--out", dir));
        return Path.Combine(dir, ExportStage.Fp32FileName);
    }

    [Fact]
    public void PassesFailsWithExitCodeFourAndAlwaysWritesTheResult()
    {
        var fp32 = Exported();
        var ok = run.NewDir("verify");
        Assert.Equal((int)ExitCode.Ok, CliExportRun.Slim("verify", run.RecipePath, "--fp32", fp32, "--baseline-ap", "0", "--max-drop", "0.02", "--threads", "1", "--out", ok));
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(ok, VerifyStage.ResultFileName))).RootElement;
        Assert.True(json.GetProperty("passed").GetBoolean());
        var m = json.GetProperty("models")[0];
        Assert.Equal("fp32", m.GetProperty("precision").GetString());
        Assert.True(m.GetProperty("latency_ms").GetDouble() > 0);
        Assert.Equal(new FileInfo(fp32).Length, m.GetProperty("size_bytes").GetInt64());

        // A baseline no tiny model reaches: exit code VerificationFailed, result still written.
        var failed = run.NewDir("verify-fail");
        Assert.Equal((int)ExitCode.VerificationFailed, CliExportRun.Slim("verify", run.RecipePath, "--fp32", fp32, "--baseline-ap", "0.99", "--max-drop", "0.02", "--out", failed));
        Assert.False(JsonDocument.Parse(File.ReadAllText(Path.Combine(failed, VerifyStage.ResultFileName))).RootElement.GetProperty("passed").GetBoolean());

        // The recipe's verify.baseline is the default.
        var fromRecipe = run.NewDir("verify-recipe");
        Assert.Equal((int)ExitCode.VerificationFailed, CliExportRun.Slim("verify", run.RecipePath, "-o", "verify.baseline.ap=0.9", "-o", "verify.baseline.max_drop=0.1",
            "--fp32", fp32, "--out", fromRecipe));
        var r = JsonDocument.Parse(File.ReadAllText(Path.Combine(fromRecipe, VerifyStage.ResultFileName))).RootElement;
        Assert.Equal(0.9, r.GetProperty("baseline_ap").GetDouble());
        Assert.Equal(0.1, r.GetProperty("max_drop").GetDouble());
    }

    [Fact]
    public void UsageErrors()
    {
        var fp32 = Path.Combine(run.Dir, "absent.onnx");
        Assert.Equal((int)ExitCode.Usage, CliExportRun.Slim("verify", run.RecipePath, "--baseline-ap", "0.5", "--out", run.NewDir("v")));
        Assert.Equal((int)ExitCode.InvalidInput, CliExportRun.Slim("verify", run.RecipePath, "--fp32", fp32, "--baseline-ap", "0.5", "--out", run.NewDir("v")));
        var err = new StringWriter();
        var code = CliRunner.Run(() =>
        {
            VerifyCommand.Verify(Slim.Recipes.RecipeLoader.Load<Slim.Recipes.Recipe>(run.RecipePath, Array.Empty<string>()), run.Checkpoint, null, null, null, null,
                run.NewDir("v"), NullProgress.Instance, CancellationToken.None);
            return ExitCode.Ok;
        }, err);
        Assert.Equal((int)ExitCode.Usage, code);
        Assert.Contains("--baseline-ap", err.ToString());
        Assert.Equal((int)ExitCode.Usage, CliExportRun.Slim("verify", run.RecipePath, "--fp32", run.Checkpoint, "--baseline-ap", "1.5", "--out", run.NewDir("v")));
    }
}
