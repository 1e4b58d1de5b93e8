using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Core.Tests.Tasks;

/// <summary>
/// The proof that a model family is one folder: a toy family written in this test project against the
/// public interface only runs train → prune → quant → export → verify through the one runner.
/// </summary>
public class ThirdFamilyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-toy-family-").FullName;

    public void Dispose()
    {
        TaskRegistry.Unregister(ToyRegressionFamily.Instance);
        Directory.Delete(_dir, true);
    }

    [Fact]
    public void AToyFamilyRunsTheWholeChainThroughTheRunner()
    {
        TaskRegistry.Register(ToyRegressionFamily.Instance);
        Assert.Same(ToyRegressionFamily.Instance, TaskRegistry.ForArchitecture(ToyRegressionFamily.Architecture));
        var yaml = """
            name: toy
            seed: 4
            threads: 1
            model: {name: toy_square_regressor, input_size: 32}
            train: {iterations: 120, batch_size: 16, optimizer: adam, lr: 0.01, warmup_steps: 0, schedule: constant, augment: false}
            stages:
              - prune: {fine_tune: {iterations: 40, lr: 0.005}}
              - quant: {mode: post, algo: abs_max, calibration_batches: 4}
            verify: {baseline: {max_drop: 1.0}, latency_runs: 2, warmup_runs: 1}
            """;
        var path = Path.Combine(_dir, "toy.yml");
        File.WriteAllText(path, yaml);
        var recipe = RecipeLoader.Load<Recipe>(path);
        var report = new RecipeRunner().Run(recipe, path, Path.Combine(_dir, "run"), resume: false);
        var rows = report.Stages;

        Assert.Equal(new[] { "baseline", "prune", "quant", "onnx fp32", "onnx int8" }, rows.Select(r => r.Stage));
        Assert.Equal("1 - 4*MAE", report.Metric);
        // It learned something (a constant guess of the mean coverage scores about 0.5 here), pruning halved the body's channels.
        Assert.True(rows[0].Ap > 0.6, $"baseline {rows[0].Ap}");
        Assert.True(rows[1].Parameters < rows[0].Parameters * 0.7, $"{rows[1].Parameters} vs {rows[0].Parameters}");
        Assert.Contains("2 params", rows[1].Detail);
        // FP32 ONNX equals the pruned model; INT8 ONNX is close to the fake-quantized one.
        Assert.Equal(rows[1].Ap!.Value, rows[3].OrtAp!.Value, 4);
        Assert.True(Math.Abs(rows[4].OrtAp!.Value - rows[2].Ap!.Value) < 0.02, $"INT8 {rows[4].OrtAp} vs fake-quant {rows[2].Ap}");
        using var loaded = ModelCheckpoint.Load(rows[1].Checkpoint!);
        Assert.IsType<ToySquareNet>(loaded.Model);
        Assert.Equal(8, loaded.Options.ChannelOverrides["body.0.conv"]);
    }
}
