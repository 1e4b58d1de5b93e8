using Slim.Common;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Compression.Distillation;

/// <summary>
/// Holds a frozen teacher and a student and computes the distillation loss between feature maps
/// of the two, captured by forward hooks on named module paths.
/// <para>
/// Use: construct (module paths are checked here), call <see cref="Validate"/> once with a sample
/// input (a dry forward of both: shapes are checked and l2 adapters created), train
/// <see cref="TrainableModule"/> (the student plus adapters), and per step, inside
/// <see cref="Capture"/>, run the student (the task loss does), then <see cref="Loss"/> runs the
/// teacher on the same input and pairs the features. <see cref="DistillationTraining.WithDistillation{TBatch}"/>
/// does the per-step part for the <see cref="Slim.Training.Trainer"/>.
/// </para>
/// The teacher and student stay the caller's (not disposed here); the adapters are the distiller's.
/// Create the distiller after pruning: hooks sit on the module instances found at construction.
/// </summary>
public sealed class Distiller : IDisposable
{
    /// <summary>The name under which <see cref="TrainableModule"/> holds the l2 adapters (parameters <c>distill_adapters.{pair}.weight/bias</c>).</summary>
    public const string AdapterModuleName = "distill_adapters";

    private readonly Func<nn.Module, Tensor, object?> _forward;
    private readonly Tensor?[] _teacherFeatures;
    private readonly Tensor?[] _studentFeatures;
    private readonly Tensor?[] _maskFeatures;
    private readonly List<IDisposable> _hooks = new();
    private readonly ModuleDict<Conv2d> _adapters = new();
    private DistilledStudent? _trainable;
    private bool _capturing;
    private bool _disposed;

    /// <summary>
    /// Freezes <paramref name="teacher"/> (requires_grad false on every parameter, eval mode) and
    /// hooks the paired modules of both models. <paramref name="forward"/> runs a model on an input
    /// tensor; by default models must be <c>Module&lt;Tensor, …&gt;</c> and are run with <c>call</c>.
    /// </summary>
    public Distiller(nn.Module teacher, nn.Module student, DistillationOptions? options = null, Func<nn.Module, Tensor, object?>? forward = null)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(student);
        Options = options ?? new DistillationOptions();
        Options.Check();
        if (ReferenceEquals(teacher, student))
            throw new DistillationException("distillation: the teacher and the student are the same model instance; load the teacher as a separate model (e.g. from the baseline checkpoint)");
        var studentTensors = student.named_parameters().ToDictionary(p => p.parameter.Identity, p => p.name);
        foreach (var (name, p) in teacher.named_parameters())
            if (studentTensors.TryGetValue(p.Identity, out var sName))
                throw new DistillationException($"distillation: teacher parameter '{name}' is the same tensor as student parameter '{sName}'; freezing the teacher would freeze the student — load the teacher as a separate model");
        if (forward is null)
        {
            if (!ModuleInvoker.CanCall(teacher))
                throw new DistillationException($"distillation: the teacher ({teacher.TypeName}) does not take one tensor as input; pass a forward function to the Distiller");
            if (!ModuleInvoker.CanCall(student))
                throw new DistillationException($"distillation: the student ({student.TypeName}) does not take one tensor as input; pass a forward function to the Distiller");
        }
        _forward = forward ?? ((m, x) => ModuleInvoker.Call(m, x, ReferenceEquals(m, teacher) ? "teacher" : "student"));

        // Resolve every path before hooking anything, so a typo leaves no hooks behind.
        var teacherModules = Options.Pairs.Select(p => Resolve(teacher, p.Teacher, "teacher")).ToArray();
        var studentModules = Options.Pairs.Select(p => Resolve(student, p.Student, "student")).ToArray();
        var maskModules = (Options.ObjectnessMaskFrom ?? []).Select(p => Resolve(teacher, p, "teacher")).ToArray();

        Teacher = teacher;
        Student = student;
        foreach (var p in teacher.parameters()) p.requires_grad = false;
        teacher.eval();

        _teacherFeatures = new Tensor?[Options.Pairs.Count];
        _studentFeatures = new Tensor?[Options.Pairs.Count];
        _maskFeatures = new Tensor?[maskModules.Length];
        for (int i = 0; i < Options.Pairs.Count; i++)
        {
            int pair = i;
            string tPath = Options.Pairs[i].Teacher, sPath = Options.Pairs[i].Student;
            _hooks.Add(teacherModules[i].register_forward_hook((_, _, output) => Keep(_teacherFeatures, pair, "teacher", tPath, output)));
            _hooks.Add(studentModules[i].register_forward_hook((_, _, output) => Keep(_studentFeatures, pair, "student", sPath, output)));
        }
        for (int i = 0; i < maskModules.Length; i++)
        {
            int pair = i;
            string mPath = Options.ObjectnessMaskFrom![i];
            _hooks.Add(maskModules[i].register_forward_hook((_, _, output) => Keep(_maskFeatures, pair, "teacher", mPath, output)));
        }
    }

    /// <summary>The settings (checked).</summary>
    public DistillationOptions Options { get; }

    /// <summary>The frozen teacher (eval mode, no gradients).</summary>
    public nn.Module Teacher { get; }

    /// <summary>The student being trained.</summary>
    public nn.Module Student { get; }

    /// <summary>Whether <see cref="Validate"/> has succeeded.</summary>
    public bool IsValidated => _trainable is not null;

    /// <summary>
    /// The module to hand to the trainer: the student's parameters and buffers under their own
    /// names plus the adapters' under <see cref="AdapterModuleName"/> (none when no pair needs one);
    /// its train()/eval() switch the student. Available after <see cref="Validate"/>.
    /// </summary>
    public nn.Module TrainableModule => _trainable
        ?? throw new DistillationException("distillation: call Validate(sampleInput) before training, so the adapters exist when the optimizer is created");

    /// <summary>The l2 adapters' parameters (trained with the student; empty when all channel counts match).</summary>
    public IReadOnlyList<Tensor> ExtraParameters => _adapters.parameters().ToList();

    /// <summary>The 1x1 adapter of pair <paramref name="pair"/> (student channels → teacher channels), or null when none is needed.</summary>
    public Conv2d? Adapter(int pair) => _adapters.Keys.Contains(Key(pair)) ? _adapters[Key(pair)] : null;

    /// <summary>
    /// One dry forward of the student (in eval mode, restored after) and the teacher on
    /// <paramref name="sampleInput"/>: checks that every paired module runs and returns a tensor,
    /// that the spatial sizes of each pair match, and (split) that the head layouts agree; creates
    /// the l2 adapters where channel counts differ. Call before training.
    /// </summary>
    public void Validate(Tensor sampleInput)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(sampleInput);
        using var capture = Capture();
        // eval: a dry run must not move the student's batch-norm statistics.
        using (StudentModes(training: false))
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            _forward(Student, sampleInput);
        }
        RunTeacher(sampleInput);

        var needed = new List<(int pair, long inChannels, long outChannels, Tensor like)>();
        for (int i = 0; i < Options.Pairs.Count; i++)
        {
            var (s, t) = Features(i, "Validate");
            if (Options.Kind == DistillationKind.Split)
            {
                DistillationLosses.CheckHeadLayout(s, t, Options.Anchors, Options.Pairs[i].Student, Options.Pairs[i].Teacher);
                continue;
            }
            if (Options.Kind == DistillationKind.SoftLabel)
            {
                if (s.dim() is not (2 or 4) || !s.shape.SequenceEqual(t.shape))
                    throw new DistillationException($"distillation pair {i} ('{Options.Pairs[i]}'): soft_label needs logits [N, classes] (or per-pixel [N, classes, H, W]) of one shape on both sides; teacher gives {DistillationLosses.Shape(t)}, student {DistillationLosses.Shape(s)}");
                continue;
            }
            CheckL2Pair(i, s, t);
            if (Options.ObjectnessMaskFrom is not null)
                using (var mask = Mask(i, "Validate")) CheckMask(i, mask, s);
            long sc = s.shape[1], tc = t.shape[1];
            var existing = Adapter(i);
            if (existing is not null)
            {
                if (existing.in_channels != sc || existing.out_channels != tc)
                    throw new DistillationException($"distillation pair {i} ('{Options.Pairs[i]}'): channels are now {sc} → {tc} but the adapter was made for {existing.in_channels} → {existing.out_channels}; create a new Distiller");
            }
            else if (sc != tc) needed.Add((i, sc, tc, s));
        }
        if (_trainable is not null && needed.Count > 0)
            throw new DistillationException("distillation: channel counts changed since the first Validate; create a new Distiller");
        foreach (var (pair, inChannels, outChannels, like) in needed)
        {
            using var scope = NewDisposeScope();
            var adapter = new Conv2d(inChannels, outChannels, 1);
            adapter.to(like.device);
            if (like.dtype != ScalarType.Float32) adapter.to(like.dtype);
            _adapters.Add(Key(pair), adapter);
        }
        _trainable ??= new DistilledStudent(Student, _adapters);
    }

    /// <summary>
    /// Sets each l2 adapter to the least-squares map from the student's features to the teacher's on
    /// <paramref name="inputs"/> (no gradients; the teacher in eval mode, the student in train mode as a training
    /// step runs it, its batch-norm statistics left as they were): weight and bias minimise
    /// Σ ‖W·s + b − t‖² over every pixel of every batch, with a ridge of <paramref name="ridge"/> times
    /// the mean feature energy on W (not b) so that few pixels or dead channels still give a unique
    /// answer. A random adapter starts the l2 term at the teacher's whole energy and sends the
    /// student's features gradients in arbitrary directions; the fitted one starts it at what the
    /// student cannot yet express linearly, which is the part worth imitating.
    /// Returns, per adapted pair, the fraction of the teacher's variance the fit explains (R²).
    /// Call after <see cref="Validate"/>; a no-op (empty result) when no pair needs an adapter.
    /// </summary>
    public IReadOnlyList<AdapterFit> FitAdapters(IEnumerable<Tensor> inputs, double ridge = 1e-3)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(inputs);
        if (_trainable is null)
            throw new DistillationException("distillation: call Validate(sampleInput) before FitAdapters, so the adapters exist");
        if (!(double.IsFinite(ridge) && ridge >= 0))
            throw new DistillationException($"distillation: the adapter fit's ridge is {ridge}; it must be a finite number ≥ 0");
        var pairs = Enumerable.Range(0, Options.Pairs.Count).Where(i => Adapter(i) is not null).ToArray();
        if (pairs.Length == 0) return Array.Empty<AdapterFit>();

        // Normal equations in float64, with a ones column for the bias: G = [X 1]ᵀ[X 1], H = [X 1]ᵀY.
        var gram = new Tensor?[pairs.Length];
        var cross = new Tensor?[pairs.Length];
        var energy = new double[pairs.Length];
        var sum = new Tensor?[pairs.Length];
        var rows = new long[pairs.Length];
        var fits = new List<AdapterFit>(pairs.Length);
        try
        {
            int batches = 0;
            // The features as a training step sees them: train mode (batch statistics; a pruned student's running
            // statistics are stale until its fine-tune has run), with the buffers restored afterwards.
            using (StudentModes(training: true, keepBuffers: true))
            {
                foreach (var input in inputs)
                {
                    using var capture = Capture();
                    using var scope = NewDisposeScope();
                    using var noGrad = no_grad();
                    _forward(Student, input);
                    RunTeacher(input);
                    for (int k = 0; k < pairs.Length; k++)
                    {
                        var (s, t) = Features(pairs[k], "FitAdapters");
                        var x = s.permute(0, 2, 3, 1).reshape(-1, s.shape[1]).to(ScalarType.Float64);
                        var y = t.permute(0, 2, 3, 1).reshape(-1, t.shape[1]).to(ScalarType.Float64);
                        var x1 = cat([x, ones(new[] { x.shape[0], 1 }, ScalarType.Float64)], 1);
                        var xt = x1.t();
                        var g = xt.mm(x1);
                        var h = xt.mm(y);
                        gram[k] = Accumulate(gram[k], g);
                        cross[k] = Accumulate(cross[k], h);
                        sum[k] = Accumulate(sum[k], y.sum(0));
                        energy[k] += y.square().sum().item<double>();
                        rows[k] += x.shape[0];
                    }
                    batches++;
                }
            }
            if (batches == 0) throw new DistillationException("distillation: FitAdapters got no input batches");

            for (int k = 0; k < pairs.Length; k++)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var adapter = Adapter(pairs[k])!;
                long cin = adapter.in_channels, cout = adapter.out_channels;
                var g = gram[k]!;
                // Ridge on the weights only, scaled by the mean squared feature (the Gram's mean diagonal).
                double scale = (g.narrow(0, 0, cin).narrow(1, 0, cin) * eye(cin, ScalarType.Float64)).sum().item<double>() / cin;
                var reg = eye(cin + 1, ScalarType.Float64) * (ridge * Math.Max(scale, 1e-12));
                reg.select(0, cin).select(0, cin).fill_(0.0);
                var w = linalg.solve(g + reg, cross[k]!);                       // [cin + 1, cout]
                // Residual energy Σ‖[x 1]w − y‖² = Σy² − 2·tr(wᵀH) + tr(wᵀGw), without a second pass.
                double sse = energy[k] - 2 * (w * cross[k]!).sum().item<double>() + (w * g.mm(w)).sum().item<double>();
                double sst = energy[k] - sum[k]!.square().sum().item<double>() / rows[k];
                adapter.weight.copy_(w.narrow(0, 0, cin).t().reshape(cout, cin, 1, 1).to(adapter.weight.dtype));
                adapter.bias!.copy_(w.select(0, cin).to(adapter.bias.dtype));
                fits.Add(new AdapterFit(pairs[k], Options.Pairs[pairs[k]], cin, cout, rows[k], sst > 0 ? 1 - Math.Max(sse, 0) / sst : 1));
            }
        }
        finally
        {
            foreach (var t in gram.Concat(cross).Concat(sum)) t?.Dispose();
        }
        return fits;
    }

    /// <summary>
    /// Puts the student in train or eval mode until disposed, then gives every module its own flag back (and, with
    /// <paramref name="keepBuffers"/>, every buffer its value: train-mode forwards move batch-norm statistics).
    /// </summary>
    private IDisposable StudentModes(bool training, bool keepBuffers = false)
    {
        var modes = Student.named_modules().Select(m => (m.module, m.module.training)).ToList();
        var buffers = keepBuffers ? Student.named_buffers().Select(b => (b.buffer, saved: b.buffer.clone().DetachFromDisposeScope())).ToList() : [];
        Student.train(training);
        return new Restore(() =>
        {
            using (no_grad())
                foreach (var (buffer, saved) in buffers)
                {
                    buffer.copy_(saved);
                    saved.Dispose();
                }
            // Pre-order: a parent's train() resets its children, which then get their own flags back.
            foreach (var (m, flag) in modes) m.train(flag);
        });
    }

    private sealed class Restore(Action action) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            action();
        }
    }

    private static Tensor Accumulate(Tensor? total, Tensor add)
    {
        if (total is null) return add.clone().DetachFromDisposeScope();
        total.add_(add);
        return total;
    }

    /// <summary>
    /// Starts capturing features for one step (drops anything left from before); dispose the
    /// result when the step's loss is computed to release them. Features are kept as separate
    /// handles, so the models may dispose their own intermediates.
    /// </summary>
    public IDisposable Capture()
    {
        ThrowIfDisposed();
        if (_capturing) throw new DistillationException("distillation: Capture() is already active; dispose the previous step's capture first");
        Release();
        _capturing = true;
        return new CaptureSession(this);
    }

    /// <summary>
    /// The distillation loss of one step: runs the teacher (no_grad, eval) on <paramref name="input"/>,
    /// which must be the input the student was just run on inside <see cref="Capture"/>, and pairs
    /// the captured features. L2: Weight · Σ_pairs mean((adapter(s) − t)²). Split: Weight ·
    /// (XyWeight·xy + WhWeight·wh + ObjWeight·obj + ClsWeight·cls), each term summed over the
    /// pairs (output scales), see <see cref="DistillationLosses.Split"/>.
    /// </summary>
    public DistillationLoss Loss(Tensor input)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(input);
        if (_trainable is null)
            throw new DistillationException("distillation: call Validate(sampleInput) before the first training step");
        if (!_capturing)
            throw new DistillationException("distillation: Loss() must be called inside Capture(), after the student has run on the same input");
        for (int i = 0; i < Options.Pairs.Count; i++)
            if (_studentFeatures[i] is null)
                throw new DistillationException($"distillation: the student's module '{Options.Pairs[i].Student}' did not run in this step; run the student (through call) on the batch before Loss()");
        RunTeacher(input);

        using var scope = NewDisposeScope();
        var parts = new Dictionary<string, Tensor>();
        Tensor total;
        if (Options.Kind == DistillationKind.L2)
        {
            Tensor? sum = null;
            for (int i = 0; i < Options.Pairs.Count; i++)
            {
                var (s, t) = Features(i, "Loss");
                CheckL2Pair(i, s, t);
                var adapter = Adapter(i);
                if (adapter is null && s.shape[1] != t.shape[1])
                    throw new DistillationException($"distillation pair {i} ('{Options.Pairs[i]}'): channel counts differ ({t.shape[1]} teacher, {s.shape[1]} student) but Validate saw them equal");
                var adapted = adapter is null ? s : adapter.call(s);
                Tensor term;
                if (Options.ObjectnessMaskFrom is null) term = DistillationLosses.L2(adapted, t);
                else
                {
                    var mask = Mask(i, "Loss");
                    CheckMask(i, mask, s);
                    term = DistillationLosses.MaskedL2(adapted, t, mask);
                }
                sum = sum is null ? term : sum + term;
            }
            total = sum! * Options.Weight;
        }
        else if (Options.Kind == DistillationKind.SoftLabel)
        {
            Tensor? sum = null;
            for (int i = 0; i < Options.Pairs.Count; i++)
            {
                var (s, t) = Features(i, "Loss");
                var term = DistillationLosses.SoftLabel(s, t, Options.Temperature);
                sum = sum is null ? term : sum + term;
            }
            total = sum! * Options.Weight;
        }
        else
        {
            Tensor? xy = null, wh = null, obj = null, cls = null;
            for (int i = 0; i < Options.Pairs.Count; i++)
            {
                var (s, t) = Features(i, "Loss");
                DistillationLosses.CheckHeadLayout(s, t, Options.Anchors, Options.Pairs[i].Student, Options.Pairs[i].Teacher);
                var terms = DistillationLosses.Split(s, t, Options.Anchors, Options.ObjectnessTarget);
                xy = xy is null ? terms.Xy : xy + terms.Xy;
                wh = wh is null ? terms.Wh : wh + terms.Wh;
                obj = obj is null ? terms.Obj : obj + terms.Obj;
                cls = cls is null ? terms.Cls : cls + terms.Cls;
            }
            total = (xy! * Options.XyWeight + wh! * Options.WhWeight + obj! * Options.ObjWeight + cls! * Options.ClsWeight) * Options.Weight;
            parts["distill_xy"] = xy!.MoveToOuterDisposeScope();
            parts["distill_wh"] = wh!.MoveToOuterDisposeScope();
            parts["distill_obj"] = obj!.MoveToOuterDisposeScope();
            parts["distill_cls"] = cls!.MoveToOuterDisposeScope();
        }
        total.MoveToOuterDisposeScope();
        var ordered = new Dictionary<string, Tensor> { ["distill"] = total };
        foreach (var kv in parts) ordered[kv.Key] = kv.Value;
        return new DistillationLoss(total, ordered);
    }

    private void RunTeacher(Tensor input)
    {
        if (Teacher.training) Teacher.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        _forward(Teacher, input);
    }

    private (Tensor student, Tensor teacher) Features(int i, string during)
    {
        var pair = Options.Pairs[i];
        var s = _studentFeatures[i] ?? throw new DistillationException($"distillation: the student's module '{pair.Student}' did not run during {during}; pair a module that the forward uses");
        var t = _teacherFeatures[i] ?? throw new DistillationException($"distillation: the teacher's module '{pair.Teacher}' did not run during {during}; pair a module that the forward uses");
        return (s, t);
    }

    /// <summary>Pair <paramref name="i"/>'s imitation mask [N, 1, H, W] from the teacher's head output captured in this step.</summary>
    private Tensor Mask(int i, string during)
    {
        var path = Options.ObjectnessMaskFrom![i];
        var head = _maskFeatures[i] ?? throw new DistillationException($"distillation: the teacher's module '{path}' (pair {i}'s objectness mask) did not run during {during}; name the teacher's head output at that pair's scale");
        try
        {
            return DistillationLosses.ObjectnessMask(head, Options.Anchors);
        }
        catch (DistillationException e)
        {
            throw new DistillationException($"distillation pair {i} ('{Options.Pairs[i]}'): its mask source '{path}': {e.Message}");
        }
    }

    private void CheckMask(int i, Tensor mask, Tensor s)
    {
        var m = mask.shape;
        if (m[0] != s.shape[0] || m[2] != s.shape[2] || m[3] != s.shape[3])
            throw new DistillationException($"distillation pair {i} ('{Options.Pairs[i]}'): its objectness mask from '{Options.ObjectnessMaskFrom![i]}' covers {m[2]}×{m[3]} cells but the features are {DistillationLosses.Shape(s)}; pair each feature map with the head output of its own scale");
    }

    private void CheckL2Pair(int i, Tensor s, Tensor t)
    {
        var pair = Options.Pairs[i];
        var ss = s.shape;
        var ts = t.shape;
        string where = $"distillation pair {i}: teacher '{pair.Teacher}' gives {DistillationLosses.Shape(t)} but student '{pair.Student}' gives {DistillationLosses.Shape(s)}";
        if (ss.Length != ts.Length || ss.Length < 2)
            throw new DistillationException($"{where}; the feature maps must have the same rank (N, C, …)");
        if (ss[0] != ts[0])
            throw new DistillationException($"{where}; the batch sizes differ");
        if (!ss.Skip(2).SequenceEqual(ts.Skip(2)))
            throw new DistillationException($"{where}; the spatial sizes must match (pair layers of the same stride)");
        if (ss[1] != ts[1] && ss.Length != 4)
            throw new DistillationException($"{where}; channel counts differ and the 1x1 adapter needs [N, C, H, W] feature maps");
    }

    private object? Keep(Tensor?[] slots, int pair, string role, string path, object output)
    {
        if (!_capturing) return null;
        if (output is not Tensor t)
            throw new DistillationException($"distillation: the {role}'s module '{path}' returns {output.GetType().Name}, not a tensor; pair modules whose output is one feature map");
        slots[pair]?.Dispose();
        // A separate handle outside every scope: the model may dispose its own intermediates.
        slots[pair] = t.alias().DetachFromDisposeScope();
        return null;
    }

    private void Release()
    {
        for (int i = 0; i < _teacherFeatures.Length; i++)
        {
            _teacherFeatures[i]?.Dispose();
            _teacherFeatures[i] = null;
            _studentFeatures[i]?.Dispose();
            _studentFeatures[i] = null;
        }
        for (int i = 0; i < _maskFeatures.Length; i++)
        {
            _maskFeatures[i]?.Dispose();
            _maskFeatures[i] = null;
        }
    }

    private static nn.Module Resolve(nn.Module model, string path, string role)
    {
        try
        {
            return model.get_submodule(path);
        }
        catch (KeyNotFoundException)
        {
            var names = model.named_modules().Select(m => m.name).Where(n => n.Length > 0).ToList();
            var nearest = Suggest.Nearest(path, names, 3);
            string hint = nearest.Count > 0 ? $"; nearest: {string.Join(", ", nearest)}"
                : names.Count == 0 ? "; it has no submodules"
                : $"; its modules include {string.Join(", ", names.Take(5))}";
            throw new DistillationException($"distillation: the {role} has no module '{path}'{hint}");
        }
    }

    private static string Key(int pair) => pair.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Removes the hooks and releases captured features and the adapters; the models are left to the caller.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var h in _hooks) h.Dispose();
        _hooks.Clear();
        _capturing = false;
        Release();
        _adapters.Dispose();
    }

    private sealed class CaptureSession(Distiller owner) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            owner._capturing = false;
            owner.Release();
        }
    }
}
