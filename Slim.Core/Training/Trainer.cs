using System.Diagnostics;
using System.Globalization;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Training;

/// <summary>A loss and its named parts (for the progress line).</summary>
public sealed record LossParts(Tensor Total, IReadOnlyDictionary<string, Tensor> Parts);

/// <summary>What a training run ended with.</summary>
public sealed record TrainResult(long Iterations, double LastLoss, double? LastMetric, double? BestMetric, string? LastCheckpoint, string? BestCheckpoint);

/// <summary>
/// The training loop shared by baseline training, fine-tuning after pruning, distillation and
/// quantization-aware training: warm-up + schedule, L2 decay on weights only, gradient
/// clipping, periodic evaluation, best/last checkpoints written atomically, and exact resume
/// (the checkpoint holds weights, optimizer state and the iteration; batch i is a function of
/// the seed and i, so a resumed run sees the same batches).
/// </summary>
public sealed class Trainer
{
    public const string LastName = "last.ckpt";
    public const string BestName = "best.ckpt";

    private readonly IProgressSink _progress;
    private readonly ProcessGroup? _group;

    /// <summary>
    /// A trainer reporting to <paramref name="progress"/>. With a <paramref name="group"/> of more than one process the
    /// training is data-parallel: the batches given must be this rank's share of each batch (<see cref="Slim.Data.DataShard"/>),
    /// rank 0's weights (or its checkpoint, when resuming) start every rank, gradients and the loss are averaged over the
    /// ranks at every step, batch-norm statistics follow rank 0's, and the metric that picks the best checkpoint is rank
    /// 0's, so every rank holds the same model throughout and writes the same checkpoints.
    /// </summary>
    public Trainer(IProgressSink? progress = null, ProcessGroup? group = null)
    {
        _progress = progress ?? NullProgress.Instance;
        _group = group is { world_size: > 1 } ? group : null;
    }

    /// <summary>
    /// Trains <paramref name="model"/>. <paramref name="batchesFrom"/> yields the batches from a
    /// given iteration on; <paramref name="loss"/> computes the loss of one batch in training mode;
    /// <paramref name="evaluate"/> (optional) returns a metric, higher is better.
    /// <paramref name="beforeStep"/> (optional) is called with the iteration index before each
    /// step, the first call of a resumed run included, so a schedule of model changes keyed on
    /// the iteration (QAT's batch-norm freeze) is re-applied when a run resumes.
    /// With a <paramref name="checkpointDir"/>, the run's curve is kept there too (<see cref="TrainHistory"/>).
    /// A resume refuses a checkpoint written with other settings (lr, schedule, iterations …) unless
    /// <paramref name="allowChanges"/>, and then says each change.
    /// </summary>
    public TrainResult Fit<TBatch>(
        nn.Module model,
        TrainSettings settings,
        Func<long, IEnumerable<TBatch>> batchesFrom,
        Func<TBatch, LossParts> loss,
        Func<double>? evaluate = null,
        string? checkpointDir = null,
        bool resume = false,
        IReadOnlyDictionary<string, string>? metadata = null,
        string description = "train",
        CancellationToken cancel = default,
        Action<long>? beforeStep = null,
        string metricName = "metric",
        bool allowChanges = false)
        where TBatch : IDisposable
    {
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        if (trainable.Count == 0) throw new SlimException("the model has no trainable parameters");
        // L2 decay on conv/linear weights only, as PaddleDetection sets BN and bias decay to 0.
        var decayed = trainable.Where(p => p.parameter.dim() > 1).Select(p => p.parameter).ToList();
        using var optimizer = settings.CreateOptimizer(trainable.Select(p => p.parameter));
        var schedule = settings.CreateSchedule();

        string? lastPath = checkpointDir is null ? null : Path.Combine(checkpointDir, LastName);
        string? bestPath = checkpointDir is null ? null : Path.Combine(checkpointDir, BestName);
        string? historyPath = checkpointDir is null ? null : Path.Combine(checkpointDir, TrainHistory.FileName);
        var settingsJson = SettingsJson(settings);
        var parallel = _group is null ? null : new DataParallel(_group, model);
        // Synchronized batch norm for this run only: reverted when it ends, so that a later forward on one rank alone
        // (a sensitivity point, an export) does not wait for the others.
        bool synced = parallel is not null && settings.SyncBn && Slim.Torch.Modules.SyncBatchNorm.Convert(model, _group!) > 0;
        using var revert = new Revert(synced ? model : null);
        long start = 0;
        double? best = null, lastMetric = null;
        var history = new TrainHistory();
        bool resuming = resume && lastPath is not null && File.Exists(lastPath);
        if (_group is not null)
        {
            // Rank 0's checkpoint decides, and reaches the other ranks over the group (no shared disk needed).
            resuming = _group.BroadcastFlag(resuming);
            if (resuming) _group.BroadcastFile(lastPath!, lastPath!);
        }
        if (resuming)
        {
            var stored = Checkpoint.ReadMetadata(lastPath!).GetValueOrDefault(SettingsKey);
            var changes = stored is null ? [] : JsonDiff.Changes(stored, settingsJson);
            if (changes.Count > 0 && !allowChanges)
                throw new SlimException($"{description}: {lastPath} was written with other training settings ({string.Join("; ", changes)}); " +
                                        "pass --allow-changes to resume with the new ones, or start afresh in another --out");
            foreach (var c in changes) _progress.Info($"{description}: resuming with a changed setting: {c}");
            (start, best) = LoadState(lastPath!, model, optimizer);
            if (File.Exists(historyPath)) history = TrainHistory.Load(historyPath, upTo: start);
            _progress.Info($"{description}: resuming at iteration {start} from {lastPath}");
        }
        parallel?.BroadcastParameters();
        // The history goes first: a kill between the two writes leaves a history that the resumed run truncates.
        void SaveLast(long iteration)
        {
            if (historyPath is not null) history.Save(historyPath);
            SaveState(lastPath!, model, optimizer, iteration, best, WithSettings(metadata, settingsJson));
        }

        double lastLoss = double.NaN;
        var watch = Stopwatch.StartNew();
        long imagesSeen = 0;
        long it = start;
        model.train();
        using (var bar = _progress.Start(description, settings.Iterations))
        {
            bar.Report(it, "");
            if (it < settings.Iterations)
            {
                foreach (var batch in batchesFrom(it))
                {
                    using (batch)
                    using (var scope = NewDisposeScope())
                    {
                        beforeStep?.Invoke(it);
                        schedule.Apply(optimizer, it);
                        optimizer.zero_grad();
                        var parts = loss(batch);
                        parts.Total.backward();
                        double stepLoss = parallel is null ? parts.Total.item<double>() : parallel.AverageGradients(parts.Total);
                        if (settings.CoupledWeightDecay)
                            using (no_grad())
                                foreach (var p in decayed)
                                {
                                    var g = p.grad;
                                    g?.add_(p, settings.WeightDecay);
                                }
                        if (settings.ClipGradNorm > 0) nn.utils.clip_grad_norm_(trainable.Select(p => p.parameter), settings.ClipGradNorm);
                        optimizer.step();
                        if (parallel is not null && !synced) parallel.BroadcastBuffers();
                        lastLoss = stepLoss;
                        if (!double.IsFinite(lastLoss))
                            throw new SlimException($"{description}: the loss became {lastLoss} at iteration {it + 1}; lower the learning rate (train.lr is {settings.Lr})");
                        imagesSeen += settings.BatchSize;
                        it++;
                        history.AddStep(it, lastLoss, optimizer.LearningRate);
                        if (it % 5 == 0 || it == settings.Iterations)
                            bar.Report(it, Status(parts, lastLoss, optimizer.LearningRate, imagesSeen / Math.Max(1e-9, watch.Elapsed.TotalSeconds)));
                    }
                    bool evalNow = evaluate is not null && settings.EvalInterval > 0 && it % settings.EvalInterval == 0 && it < settings.Iterations;
                    if (evalNow)
                    {
                        lastMetric = Evaluate(model, evaluate!, _group);
                        history.AddEval(it, lastMetric.Value);
                        if (best is null || lastMetric > best)
                        {
                            best = lastMetric;
                            if (bestPath is not null) SaveState(bestPath, model, optimizer, it, best, metadata);
                        }
                        _progress.Info(string.Create(CultureInfo.InvariantCulture,
                            $"{description}: iteration {it}: {metricName} {lastMetric * 100:F2} % (best {best * 100:F2} %)"));
                    }
                    bool saveNow = lastPath is not null && (evalNow || (settings.CheckpointInterval > 0 && it % settings.CheckpointInterval == 0));
                    if (saveNow) SaveLast(it);
                    if (cancel.IsCancellationRequested)
                    {
                        if (lastPath is not null) SaveLast(it);
                        cancel.ThrowIfCancellationRequested();
                    }
                    if (it >= settings.Iterations) break;
                }
            }
        }
        if (it < settings.Iterations)
            throw new SlimException($"{description}: the data ran out after {it} of {settings.Iterations} iterations");
        if (evaluate is not null)
        {
            lastMetric = Evaluate(model, evaluate, _group);
            history.AddEval(it, lastMetric.Value);
            if (best is null || lastMetric >= best)
            {
                best = lastMetric;
                if (bestPath is not null) SaveState(bestPath, model, optimizer, it, best, metadata);
            }
        }
        if (lastPath is not null) SaveLast(it);
        model.eval();
        return new TrainResult(it, lastLoss, lastMetric, best, lastPath, bestPath is not null && File.Exists(bestPath) ? bestPath : null);
    }

    private sealed class Revert(nn.Module? model) : IDisposable
    {
        public void Dispose()
        {
            if (model is not null) Slim.Torch.Modules.SyncBatchNorm.Revert(model);
        }
    }

    /// <summary>Checkpoint metadata key of the training settings a run was written with.</summary>
    public const string SettingsKey = "train.settings";

    private static string SettingsJson(TrainSettings s) => System.Text.Json.JsonSerializer.Serialize(s, SettingsOptions);

    private static readonly System.Text.Json.JsonSerializerOptions SettingsOptions = new()
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.SnakeCaseLower) },
    };

    private static Dictionary<string, string> WithSettings(IReadOnlyDictionary<string, string>? metadata, string settingsJson) =>
        new(metadata ?? new Dictionary<string, string>()) { [SettingsKey] = settingsJson };

    // Every rank scores its (identical) model; rank 0's figure is everybody's, so all ranks keep the same best checkpoint.
    private static double Evaluate(nn.Module model, Func<double> evaluate, ProcessGroup? group)
    {
        model.eval();
        try
        {
            double metric = evaluate();
            return group is null ? metric : group.BroadcastDoubles(new[] { metric })[0];
        }
        finally
        {
            model.train();
        }
    }

    private static string Status(LossParts parts, double loss, double lr, double imagesPerSecond)
    {
        var inv = CultureInfo.InvariantCulture;
        var sub = string.Join(" ", parts.Parts.Select(kv => $"{kv.Key} {kv.Value.item<double>().ToString("F3", inv)}"));
        return $"loss {loss.ToString("F4", inv)}{(sub.Length > 0 ? $" ({sub})" : "")} lr {lr.ToString("G3", inv)} {imagesPerSecond.ToString("F1", inv)} img/s";
    }

    /// <summary>Writes model + optimizer state and the position in the run, atomically.</summary>
    public static void SaveState(string path, nn.Module model, optim.Optimizer optimizer, long iteration, double? best,
        IReadOnlyDictionary<string, string>? metadata)
    {
        var tensors = model.state_dict().Select(kv => new KeyValuePair<string, Tensor>("model." + kv.Key, kv.Value))
            .Concat(optimizer.state_dict().Select(kv => new KeyValuePair<string, Tensor>("optim." + kv.Key, kv.Value)));
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            ["train.iteration"] = iteration.ToString(CultureInfo.InvariantCulture),
            ["train.optimizer_steps"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture),
        };
        if (best is double b) meta["train.best_metric"] = b.ToString("R", CultureInfo.InvariantCulture);
        Checkpoint.Save(path, tensors, meta);
    }

    private static (long iteration, double? best) LoadState(string path, nn.Module model, optim.Optimizer optimizer)
    {
        var (tensors, meta) = Checkpoint.Load(path);
        try
        {
            var modelState = tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key["model.".Length..], kv => kv.Value);
            model.load_state_dict(modelState);
            var optimState = tensors.Where(kv => kv.Key.StartsWith("optim.", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key["optim.".Length..], kv => kv.Value);
            optimizer.load_state_dict(optimState, long.Parse(meta.GetValueOrDefault("train.optimizer_steps", "0"), CultureInfo.InvariantCulture));
            long it = long.Parse(meta.GetValueOrDefault("train.iteration", "0"), CultureInfo.InvariantCulture);
            double? best = meta.TryGetValue("train.best_metric", out var b) ? double.Parse(b, CultureInfo.InvariantCulture) : null;
            return (it, best);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Loads only the model weights of a trainer checkpoint (or a plain state-dict checkpoint).</summary>
    public static Dictionary<string, string> LoadModel(string path, nn.Module model)
    {
        var (tensors, meta) = Checkpoint.Load(path);
        try
        {
            bool prefixed = tensors.Keys.Any(k => k.StartsWith("model.", StringComparison.Ordinal));
            var state = tensors.Where(kv => !prefixed || kv.Key.StartsWith("model.", StringComparison.Ordinal))
                .ToDictionary(kv => prefixed ? kv.Key["model.".Length..] : kv.Key, kv => kv.Value);
            try
            {
                model.load_state_dict(state);
            }
            catch (StateDictException e)
            {
                throw new CheckpointException($"{path}: {e.Message}");
            }
            return meta;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
