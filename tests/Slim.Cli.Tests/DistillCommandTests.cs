using Slim.Cli.Commands;
using Slim.Pipeline;
using Slim.Recipes;

namespace Slim.Cli.Tests;

public class DistillCommandTests(TinyRecipeFixture fx) : IClassFixture<TinyRecipeFixture>
{
    [Fact]
    public void DistillFromATeacherCheckpointWritesTheStudent()
    {
        var outDir = fx.Dir("distill");
        var (code, error) = TinyRecipeFixture.Slim("distill", fx.RecipeFile, "--checkpoint", fx.Baseline, "--teacher", fx.Baseline,
            "--type", "split_distill", "--iterations", "2", "--out", outDir);
        Assert.True(code == 0, error);
        var (student, _, _) = TestCheckpoints.Load(Path.Combine(outDir, DistillStage.StudentFileName));
        student.Dispose();
    }

    [Fact]
    public void BaselineTeacherComesFromTheBaselineOption()
    {
        var outDir = fx.Dir("distill-baseline");
        var (code, error) = TinyRecipeFixture.Slim("distill", fx.RecipeFile, "--checkpoint", fx.Baseline, "--baseline", fx.Baseline,
            "--iterations", "1", "--out", outDir);
        Assert.True(code == 0, error);
        Assert.Equal("baseline", Slim.Torch.Checkpoint.ReadMetadata(Path.Combine(outDir, DistillStage.StudentFileName))["distill.teacher"]);
    }

    [Theory]
    [InlineData(2, new[] { "--type", "l3_distill" }, "--type 'l3_distill' is not one of l2_distill, split_distill")]
    [InlineData(2, new[] { "--teacher", "baseline" }, "--baseline FILE")]
    [InlineData(2, new[] { "--iterations", "0" }, "give at least 1")]
    [InlineData(3, new[] { "--teacher", "nowhere.ckpt" }, "is not 'baseline', 'train' or an existing checkpoint file")]
    public void BadOptionsExitWithAClearMessage(int expected, string[] extra, string message)
    {
        var args = new[] { "distill", fx.RecipeFile, "--checkpoint", fx.Baseline, "--out", fx.Dir("distill-bad") }.Concat(extra).ToArray();
        var (code, error) = TinyRecipeFixture.Slim(args);
        Assert.Equal(expected, code);
        Assert.Contains(message, error);
    }

    [Fact]
    public void MissingStudentIsUsageAndAbsentStudentFileIsInvalidInput()
    {
        var (code, error) = TinyRecipeFixture.Slim("distill", fx.RecipeFile, "--teacher", fx.Baseline);
        Assert.Equal(2, code);
        Assert.Contains("--checkpoint FILE", error);
        (code, _) = TinyRecipeFixture.Slim("distill", fx.RecipeFile, "--checkpoint", fx.Dir("absent.ckpt"), "--teacher", fx.Baseline);
        Assert.Equal(3, code);
    }

    [Fact]
    public void CommandLineValuesOverlayTheRecipesDistillStage()
    {
        var recipe = RecipeLoader.Parse<Recipe>("""
            stages:
              - distill: {teacher: train, type: l2_distill, weight: 5, fine_tune: {iterations: 50, warmup_steps: 3}}
            """);
        var s = DistillCommand.Section(recipe, new DistillCommand.Settings("s.ckpt", "t.ckpt", null, "split_distill", 7, "o", false));
        Assert.Equal("t.ckpt", s.Teacher);
        Assert.Equal(DistillKind.SplitDistill, s.Type);
        Assert.Equal(5, s.Weight);
        Assert.Equal(7, s.FineTune.Iterations);
        Assert.Equal(3, s.FineTune.WarmupSteps);
    }
}
