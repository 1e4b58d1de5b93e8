using Slim.Pipeline;
using Slim.Recipes;
using Slim.Tasks;
using Slim.Torch;

namespace Slim.Core.Tests.Pipeline;

/// <summary>
/// The model zoo's distillation path through the runner: a MobileNetV1 student is pruned with r578, then a
/// YOLOv3-ResNet34 teacher is trained inside the distill stage (teacher: train with teacher_model) and the pruned
/// student learns from it with l2_distill on the tips, its weight left at the default (100, PaddleDetection's).
/// </summary>
public class ResNet34TeacherTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("slim-r34-teacher-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void APrunedMobileNetV1LearnsFromAResNet34TeacherTrainedInTheRecipe()
    {
        var yaml = $$"""
            name: r34-teacher
            seed: 2
            threads: 1
            model: {name: yolov3_mobilenet_v1, width: 0.25, input_size: 64}
            dataset:
              format: synthetic
              root: {{_dir}}/data
              generate: {train_images: 16, val_images: 8, image_size: 96, seed: 0}
              workers: 0
            train: {iterations: 4, batch_size: 4, lr: 0.001, warmup_steps: 1, augment: false}
            stages:
              - prune: {pruned_params: "yolo_block.*.conv.weights", pruned_ratios: r578, fine_tune: {iterations: 2} }
              - distill:
                  teacher: train
                  teacher_model: {name: yolov3_resnet34, width: 0.25, input_size: 64}
                  teacher_iterations: 3
                  type: l2_distill
                  fine_tune: {iterations: 2}
            export: {fp32: false, int8: false}
            verify: {enabled: false}
            """;
        var path = Path.Combine(_dir, "r34.yml");
        File.WriteAllText(path, yaml);
        var recipe = RecipeLoader.Load<Recipe>(path);
        var report = new RecipeRunner().Run(recipe, path, Path.Combine(_dir, "run"), resume: false);
        var rows = report.Stages;

        Assert.Equal(new[] { "baseline", "prune", "distill" }, rows.Select(r => r.Stage));
        Assert.Equal("l2_distill from yolov3_resnet34 (trained 3 it), 2 it", rows[2].Detail);
        // The student keeps the pruned architecture: same GFLOPs as the prune row, fewer than the baseline.
        Assert.Equal(rows[1].Gflops, rows[2].Gflops);
        Assert.True(rows[2].Gflops < rows[0].Gflops * 0.5, $"{rows[2].Gflops} vs {rows[0].Gflops}");

        var teacherDir = Path.Combine(Path.GetDirectoryName(rows[2].Checkpoint!)!, DistillStage.TeacherDirName);
        using (var teacher = ModelCheckpoint.Load(Path.Combine(teacherDir, Trainer.LastName)))
            Assert.Equal("yolov3_resnet34", teacher.Architecture);
        using var pruned = ModelCheckpoint.Load(rows[1].Checkpoint!);
        using var student = ModelCheckpoint.Load(rows[2].Checkpoint!);
        Assert.Equal("yolov3_mobilenet_v1", student.Architecture);
        Assert.Equal(pruned.Options.ChannelOverrides, student.Options.ChannelOverrides);
        // No l2 adapter is left in the student, and distillation changed its weights.
        Assert.DoesNotContain(student.Model.named_parameters(), p => p.name.StartsWith(Slim.Compression.Distillation.Distiller.AdapterModuleName, StringComparison.Ordinal));
        using var scope = torch.NewDisposeScope();
        var before = pruned.Model.get_parameter("yolo_block.0.tip.conv.weights");
        var after = student.Model.get_parameter("yolo_block.0.tip.conv.weights");
        Assert.True((before - after).abs().max().item<float>() > 0);
    }
}
