using Slim.Compression.Quantization;
using Slim.Recipes;

namespace Slim.Core.Tests.Recipes;

public class RecipeLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-recipe-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(string name, string text)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllText(p, text);
        return p;
    }

    [Fact]
    public void BindsNestedSectionsListsEnumsAndDefaults()
    {
        var r = RecipeLoader.Parse<Recipe>("""
            name: t
            model: {name: yolov3_mobilenet_v1, width: 0.25, input_size: 160}
            train: {iterations: 30, optimizer: adamw, boundaries: [0.5, 0.9]}
            stages:
              - prune: {criterion: geometry_median, pruned_params: "yolo_block.0.*,yolo_block.1.*", pruned_ratios: "0.5,0.3"}
              - quant: {mode: post, algo: kl, not_quant: se_block}
            """);
        Assert.Equal(0.25, r.Model.Width);
        Assert.Equal(OptimizerKind.Adamw, r.Train.Optimizer);
        Assert.Equal(new[] { 0.5, 0.9 }, r.Train.Boundaries);
        Assert.Equal(8, r.Train.BatchSize); // default
        Assert.Equal(PruneCriterion.GeometryMedian, r.Stages[0].Prune!.Criterion);
        Assert.Equal(new[] { "yolo_block.0.*", "yolo_block.1.*" }, r.Stages[0].Prune!.PrunedParams);
        Assert.Equal(CalibrationAlgo.Kl, r.Stages[1].Quant!.Algo);
        Assert.Equal(new[] { "se_block" }, r.Stages[1].Quant!.NotQuant);
    }

    [Fact]
    public void UnknownKeySuggestsNearestWithLine()
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse<Recipe>("name: t\ntrain:\n  batch_sise: 4\n", "r.yml"));
        Assert.Equal(3, e.Line);
        Assert.Contains("r.yml:3: train.batch_sise: unknown key (did you mean 'batch_size'?)", e.Message);
    }

    [Fact]
    public void WrongTypeAndOutOfRangeNameKeyAndExpectation()
    {
        var e1 = Assert.Throws<RecipeException>(() => RecipeLoader.Parse<Recipe>("train: {batch_size: eight}", "r.yml"));
        Assert.Contains("train.batch_size: expected a whole number, got 'eight'", e1.Message);
        var e2 = Assert.Throws<RecipeException>(() => RecipeLoader.Parse<Recipe>("train: {momentum: 1.5}", "r.yml"));
        Assert.Contains("train.momentum: 1.5 is out of range: expected a value in [0, 1)", e2.Message);
        var e3 = Assert.Throws<RecipeException>(() => RecipeLoader.Parse<Recipe>("stages: [{quant: {algo: kll}}]", "r.yml"));
        Assert.Contains("did you mean 'kl'?", e3.Message);
        var e4 = Assert.Throws<RecipeException>(() => RecipeLoader.Parse<Recipe>("stages: [{prune: {}, quant: {}}]", "r.yml"));
        Assert.Contains("exactly one of prune, distill, quant", e4.Message);
    }

    [Fact]
    public void BaseRecipeMergesAndOverridesApply()
    {
        Write("base.yml", "name: base\nseed: 3\ntrain: {iterations: 100, lr: 0.01}\n");
        var child = Write("child.yml", "base: base.yml\nname: child\ntrain: {iterations: 50}\n");
        var r = RecipeLoader.Load<Recipe>(child, new[] { "train.batch_size=2", "model.width=0.5" });
        Assert.Equal("child", r.Name);
        Assert.Equal(3, r.Seed);
        Assert.Equal(50, r.Train.Iterations);
        Assert.Equal(0.01, r.Train.Lr);
        Assert.Equal(2, r.Train.BatchSize);
        Assert.Equal(0.5, r.Model.Width);
    }

    [Fact]
    public void AProblemOfAMergedSectionIsBlamedOnTheFileAndLineThatSetTheKey()
    {
        // The base has the train: mapping (line 3); the child sets boundaries wrongly on its own line 4.
        Write("base2.yml", "name: base\nseed: 3\ntrain:\n  iterations: 100\n  lr: 0.01\n");
        var child = Write("child2.yml", "base: base2.yml\nname: child\ntrain:\n  boundaries: [0.9, 0.5]\n");
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Load<Recipe>(child));
        Assert.Contains("child2.yml:4", e.Message);
        Assert.Contains("train.boundaries: boundaries must increase", e.Message);
        Assert.DoesNotContain("base2.yml", e.Message);
    }

    [Fact]
    public void BadOverrideAndMissingBaseAreNamed()
    {
        var p = Write("a.yml", "name: a\n");
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Load<Recipe>(p, new[] { "train.itrations=5" }));
        Assert.Contains("-o train.itrations=5", e.Message);
        Assert.Contains("did you mean 'iterations'?", e.Message);
        var q = Write("b.yml", "base: nowhere.yml\n");
        var e2 = Assert.Throws<RecipeException>(() => RecipeLoader.Load<Recipe>(q));
        Assert.Contains("base recipe 'nowhere.yml' not found", e2.Message);
    }

    [Fact]
    public void OverridesIndexListItemsByPosition()
    {
        var p = Write("s.yml", """
            name: s
            stages:
              - prune: {pruned_ratios: r578, fine_tune: {iterations: 600}, distill: {teacher: baseline}}
              - quant: {mode: aware}
            """);
        var r = RecipeLoader.Load<Recipe>(p, new[]
        {
            "stages.0.prune.distill.teacher=runs/r34/best.ckpt", "stages.0.prune.fine_tune.iterations=300",
            "stages.1.quant.mode=post", "stages.1.quant.algo=kl",
        });
        Assert.Equal("runs/r34/best.ckpt", r.Stages[0].Prune!.Distill!.Teacher);
        Assert.Equal(300, r.Stages[0].Prune!.FineTune.Iterations);
        Assert.Equal("r578", r.Stages[0].Prune!.PrunedRatios); // the rest of the item is kept
        Assert.Equal(QuantMode.Post, r.Stages[1].Quant!.Mode);
        Assert.Equal(CalibrationAlgo.Kl, r.Stages[1].Quant!.Algo);
        // A whole item can be replaced, and a whole list given.
        var whole = RecipeLoader.Load<Recipe>(p, new[] { "stages.1={quant: {mode: post, algo: mse}}" });
        Assert.Equal(CalibrationAlgo.Mse, whole.Stages[1].Quant!.Algo);
        Assert.Single(RecipeLoader.Load<Recipe>(p, new[] { "stages=[{quant: {mode: post}}]" }).Stages);

        var beyond = Assert.Throws<RecipeException>(() => RecipeLoader.Load<Recipe>(p, new[] { "stages.2.quant.mode=post" }));
        Assert.Contains("-o stages.2.quant.mode=post", beyond.Message);
        Assert.Contains("'stages' is a list of 2 item(s): index it by position, 0 to 1", beyond.Message);
        var named = Assert.Throws<RecipeException>(() => RecipeLoader.Load<Recipe>(p, new[] { "stages.prune.criterion=bn_scale" }));
        Assert.Contains("index it by position", named.Message);
    }

    [Fact]
    public void InvalidYamlReportsLine()
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse<Recipe>("name: a\ntrain: {iterations: 3\n", "r.yml"));
        Assert.Contains("invalid YAML", e.Message);
        Assert.True(e.Line >= 2);
    }
}
