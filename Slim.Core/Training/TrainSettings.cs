using Slim.Recipes;
using Slim.Torch;
using static Slim.Torch.torch.optim;
using static Slim.Torch.torch.optim.lr_scheduler;

namespace Slim.Training;

/// <summary>The resolved settings of one training run (a baseline, or a fine-tune over it).</summary>
public sealed record TrainSettings
{
    public int Iterations { get; init; } = 100;
    public int BatchSize { get; init; } = 8;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Momentum;
    public double Lr { get; init; } = 0.001;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 0.0005;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Piecewise;
    public IReadOnlyList<double> Boundaries { get; init; } = new[] { 0.67, 0.89 };
    public double Gamma { get; init; } = 0.1;

    /// <summary>poly: exponent and final learning rate.</summary>
    public double Power { get; init; } = 0.9;
    public double EndLr { get; init; }
    public int WarmupSteps { get; init; } = 100;
    public double WarmupFactor { get; init; } = 0.1;
    public double ClipGradNorm { get; init; }
    public int EvalInterval { get; init; }
    /// <summary>Save last.ckpt every this many iterations (0 = at evaluations and at the end).</summary>
    public int CheckpointInterval { get; init; }
    /// <summary>Synchronized batch norm when data-parallel (not part of the settings a resume compares: it changes no result of one process).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool SyncBn { get; init; }

    /// <summary>The train section, with a stage's fine-tune values laid over it.</summary>
    public static TrainSettings From(TrainSection t, FineTuneSection? fineTune = null) => new()
    {
        Iterations = fineTune is null ? t.Iterations : fineTune.Iterations,
        BatchSize = t.BatchSize,
        Optimizer = t.Optimizer,
        Lr = fineTune?.Lr ?? t.Lr,
        Momentum = t.Momentum,
        WeightDecay = t.WeightDecay,
        Schedule = t.Schedule,
        Boundaries = t.Boundaries,
        Gamma = t.Gamma,
        Power = t.Power,
        EndLr = t.EndLr,
        WarmupSteps = fineTune?.WarmupSteps ?? t.WarmupSteps,
        WarmupFactor = t.WarmupFactor,
        ClipGradNorm = t.ClipGradNorm,
        EvalInterval = t.EvalInterval,
        SyncBn = t.SyncBn,
    };

    /// <summary>The optimizer over the given parameters. L2 decay is applied by the trainer (not to BN or biases).</summary>
    public Optimizer CreateOptimizer(IEnumerable<Tensor> parameters) => Optimizer switch
    {
        OptimizerKind.Momentum => new SGD(parameters, Lr, Momentum),
        OptimizerKind.Sgd => new SGD(parameters, Lr),
        OptimizerKind.Adam => new Adam(parameters, Lr),
        OptimizerKind.Adamw => new Adam(parameters, Lr, weight_decay: WeightDecay, decoupled: true),
        _ => throw new ArgumentOutOfRangeException(nameof(Optimizer)),
    };

    /// <summary>Whether the trainer adds the L2 term to gradients itself (all but AdamW).</summary>
    public bool CoupledWeightDecay => Optimizer != OptimizerKind.Adamw && WeightDecay > 0;

    public LRSchedule CreateSchedule()
    {
        LRSchedule inner = Schedule switch
        {
            ScheduleKind.Piecewise => PiecewiseDecay.FromGamma(Lr,
                Boundaries.Select(b => (long)Math.Round(b * Iterations)).Distinct().Where(b => b > 0).ToArray(), Gamma),
            ScheduleKind.Cosine => new CosineDecay(Lr, Iterations),
            ScheduleKind.Poly => new PolynomialDecay(Lr, Iterations, Power, Math.Min(EndLr, Lr)),
            ScheduleKind.Constant => new Constant(Lr),
            _ => throw new ArgumentOutOfRangeException(nameof(Schedule)),
        };
        return WarmupSteps > 0 ? new LinearWarmup(inner, Math.Min(WarmupSteps, Math.Max(1, Iterations / 2)), WarmupFactor) : inner;
    }
}
