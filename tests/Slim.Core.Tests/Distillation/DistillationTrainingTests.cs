using Slim.Compression.Distillation;
using Slim.Pipeline;
using Slim.Recipes;
using Slim.Torch;
using static Slim.Torch.torch;
using Xunit.Abstractions;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Core.Tests.Distillation;

/// <summary>Distillation through the shared trainer, on a synthetic detection-like task.</summary>
public class DistillationTrainingTests(ITestOutputHelper output)
{
    private const int Classes = 2;

    private static IEnumerable<Batch> Batches(long from)
    {
        for (long i = from; ; i++)
        {
            using var g = new Generator(5000 + i);
            using var scope = NewDisposeScope();
            yield return new Batch(randn(new long[] { 8, 3, 16, 16 }, g).DetachFromDisposeScope());
        }
    }

    // Objectness: the cell's mean brightness is positive; class: channel 0 brighter than channel 1.
    private static LossParts TaskLoss(TinyDetector model, Batch b)
    {
        var outs = model.call(b.X);
        Tensor? obj = null, cls = null;
        foreach (var o in outs)
        {
            long h = o.shape[2], w = o.shape[3];
            var v = o.reshape(o.shape[0], TinyDetector.Anchors, 5 + Classes, h, w);
            var pooled = F.adaptive_avg_pool2d(b.X, new[] { h, w });
            var isObject = pooled.mean(1, keepdim: true).gt(0.0).to(ScalarType.Float32).expand_as(v.select(2, 4));
            var first = pooled.select(1, 0).gt(pooled.select(1, 1)).to(ScalarType.Float32).unsqueeze(1);
            var classTarget = cat(new[] { first, 1 - first }, 1).unsqueeze(1).expand_as(v.narrow(2, 5, Classes));
            var o1 = F.binary_cross_entropy_with_logits(v.select(2, 4), isObject);
            var c1 = F.binary_cross_entropy_with_logits(v.narrow(2, 5, Classes), classTarget);
            obj = obj is null ? o1 : obj + o1;
            cls = cls is null ? c1 : cls + c1;
        }
        return new LossParts(obj! + cls!, new Dictionary<string, Tensor> { ["obj"] = obj!, ["cls"] = cls! });
    }

    private static TrainSettings Settings(int iterations) => new()
    {
        Iterations = iterations,
        BatchSize = 8,
        Optimizer = OptimizerKind.Adam,
        Lr = 0.01,
        WeightDecay = 0,
        Schedule = ScheduleKind.Constant,
        WarmupSteps = 0,
    };

    private static TinyDetector TrainedTeacher()
    {
        var teacher = new TinyDetector(16, Classes, 1);
        new Trainer().Fit(teacher, Settings(40), Batches, b => TaskLoss(teacher, b), description: "teacher");
        return teacher;
    }

    private static double HeldOutDistillLoss(Distiller d, TinyDetector student)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        student.eval();
        var x = randn(new long[] { 16, 3, 16, 16 }, new Generator(99));
        using var capture = d.Capture();
        student.call(x);
        return d.Loss(x).Total.item<float>();
    }

    private sealed class Recorder : IProgressSink
    {
        public List<string> Lines { get; } = new();
        public IProgressTask Start(string description, long total) => new Task(this);
        public void Info(string message) => Lines.Add(message);
        private sealed class Task(Recorder owner) : IProgressTask
        {
            public void Report(long done, string status) => owner.Lines.Add(status);
            public void Dispose() { }
        }
    }

    [Fact]
    public void SplitDistillation_WithTheTrainer_ReducesTheDistillationLossAndLeavesTheTeacherAlone()
    {
        using var teacher = TrainedTeacher();
        var teacherState = teacher.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

        using var plain = new TinyDetector(4, Classes, 2);
        using var student = new TinyDetector(4, Classes, 2);
        using var dPlain = new Distiller(teacher, plain);
        using var d = new Distiller(teacher, student);
        using (var sample = randn(2, 3, 16, 16))
        {
            dPlain.Validate(sample);
            d.Validate(sample);
        }
        double before = HeldOutDistillLoss(d, student);

        // The same student trained on the task alone, for comparison.
        new Trainer().Fit(plain, Settings(40), Batches, b => TaskLoss(plain, b), description: "plain");
        var recorder = new Recorder();
        new Trainer(recorder).Fit(d.TrainableModule, Settings(40), Batches,
            DistillationTraining.WithDistillation<Batch>(b => TaskLoss(student, b), d, b => b.X), description: "distill");
        double after = HeldOutDistillLoss(d, student);
        double withoutDistillation = HeldOutDistillLoss(dPlain, plain);

        output.WriteLine($"split: distillation loss {before:F4} -> {after:F4}; task-only student {withoutDistillation:F4}");
        Assert.True(after < 0.8 * before, $"distillation loss {before:F4} → {after:F4}");
        Assert.True(after < withoutDistillation, $"distilled {after:F4} vs task-only {withoutDistillation:F4}");
        Assert.Contains(recorder.Lines, l => l.Contains("distill ") && l.Contains("distill_xy ") && l.Contains("task ") && l.Contains("obj "));
        foreach (var (name, value) in teacher.state_dict())
        {
            using var same = value.eq(teacherState[name]).all();
            Assert.True(same.item<bool>(), $"teacher tensor {name} changed");
        }
        Assert.All(teacher.modules(), m => Assert.False(m.training));
        foreach (var t in teacherState.Values) t.Dispose();
    }

    [Fact]
    public void L2Distillation_OfAPrunedStudent_TrainsTheAdapterAndReducesTheLoss()
    {
        using var teacher = TrainedTeacher();
        using var student = new TinyDetector(6, Classes, 3); // 6 of the teacher's 16 channels
        var options = new DistillationOptions
        {
            Kind = DistillationKind.L2,
            Pairs = new[] { FeaturePair.Parse("backbone:backbone") }.Concat(FeaturePair.YoloOutputs).ToArray(),
        };
        using var d = new Distiller(teacher, student, options);
        using (var sample = randn(2, 3, 16, 16)) d.Validate(sample);
        using var adapterBefore = d.Adapter(0)!.get_parameter("weight").clone();
        double before = HeldOutDistillLoss(d, student);

        new Trainer().Fit(d.TrainableModule, Settings(40), Batches,
            DistillationTraining.WithDistillation<Batch>(b => TaskLoss(student, b), d, b => b.X), description: "distill");
        double after = HeldOutDistillLoss(d, student);

        output.WriteLine($"l2: distillation loss {before:F4} -> {after:F4}");
        Assert.True(after < 0.6 * before, $"distillation loss {before:F4} → {after:F4}");
        using var changed = d.Adapter(0)!.get_parameter("weight").ne(adapterBefore).any();
        Assert.True(changed.item<bool>());
    }
}
