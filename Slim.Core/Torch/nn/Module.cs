using System.Text;

namespace Slim.Torch;

public static partial class torch
{
    public static partial class nn
    {
        /// <summary>
        /// Base of all layers: owns parameters, buffers and child modules under hierarchical
        /// names (<c>yolo_block.0.0.0.conv.weights</c>), switches train/eval mode, runs forward
        /// hooks, and lets pruning swap in smaller tensors or whole submodules.
        /// </summary>
        public abstract class Module : IDisposable
        {
            private readonly OrderedDictionary<string, Tensor?> _parameters = new();
            private readonly OrderedDictionary<string, Tensor?> _buffers = new();
            private readonly OrderedDictionary<string, Module> _modules = new();
            [ThreadStatic] private static List<Module>? _callStack;

            protected Module(string typeName) => TypeName = typeName;

            /// <summary>The layer type as it appears in reports ("Conv2d", "BatchNorm2d", …).</summary>
            public string TypeName { get; }

            public bool training { get; private set; } = true;

            /// <summary>Modules whose forward is running on this thread, outermost first (for tracing).</summary>
            public static IReadOnlyList<Module> CallStack => _callStack ??= new List<Module>();

            internal static void EnterCall(Module m) => (_callStack ??= new List<Module>()).Add(m);
            internal static void ExitCall() => _callStack!.RemoveAt(_callStack.Count - 1);

            // ---- registration ----

            /// <summary>Adds (or with null, declares) a parameter; the module owns the tensor from now on.</summary>
            protected void register_parameter(string name, Tensor? p)
            {
                CheckName(name);
                if (p is not null)
                {
                    p.DetachFromDisposeScope();
                    if (!p.requires_grad && p.dtype.IsFloatingPoint()) p.requires_grad = true;
                }
                _parameters[name] = p;
            }

            protected void register_buffer(string name, Tensor? b)
            {
                CheckName(name);
                b?.DetachFromDisposeScope();
                _buffers[name] = b;
            }

            /// <summary>Adds a child module under name.</summary>
            public void register_module(string name, Module m)
            {
                CheckName(name);
                _modules[name] = m;
            }

            private static void CheckName(string name)
            {
                if (string.IsNullOrEmpty(name) || name.Contains('.'))
                    throw new ArgumentException($"invalid module member name '{name}': must be non-empty and contain no '.'");
            }

            /// <summary>The direct parameter called name (or null).</summary>
            protected Tensor? GetParameterOrNull(string name) => _parameters.TryGetValue(name, out var p) ? p : null;
            protected Tensor? GetBufferOrNull(string name) => _buffers.TryGetValue(name, out var b) ? b : null;

            // ---- enumeration ----

            public IEnumerable<(string name, Module module)> named_children() => _modules.Select(kv => (kv.Key, kv.Value));
            public IEnumerable<Module> children() => _modules.Values;

            /// <summary>This module (name "") and all below it, depth first, with dotted paths.</summary>
            public IEnumerable<(string name, Module module)> named_modules(string prefix = "")
            {
                yield return (prefix, this);
                foreach (var (n, m) in _modules)
                    foreach (var x in m.named_modules(prefix.Length == 0 ? n : prefix + "." + n))
                        yield return x;
            }

            public IEnumerable<Module> modules() => named_modules().Select(x => x.module);

            public IEnumerable<(string name, Tensor parameter)> named_parameters(bool recurse = true)
            {
                foreach (var (path, m) in recurse ? named_modules() : new[] { ("", this) })
                    foreach (var (n, p) in m._parameters)
                        if (p is not null) yield return (path.Length == 0 ? n : path + "." + n, p);
            }

            public IEnumerable<Tensor> parameters(bool recurse = true) => named_parameters(recurse).Select(x => x.parameter);

            public IEnumerable<(string name, Tensor buffer)> named_buffers(bool recurse = true)
            {
                foreach (var (path, m) in recurse ? named_modules() : new[] { ("", this) })
                    foreach (var (n, b) in m._buffers)
                        if (b is not null) yield return (path.Length == 0 ? n : path + "." + n, b);
            }

            /// <summary>Parameters and buffers by full name (the tensors themselves, not copies).</summary>
            public OrderedDictionary<string, Tensor> state_dict()
            {
                var d = new OrderedDictionary<string, Tensor>();
                foreach (var (path, m) in named_modules())
                {
                    string pre = path.Length == 0 ? "" : path + ".";
                    foreach (var (n, p) in m._parameters) if (p is not null) d[pre + n] = p;
                    foreach (var (n, b) in m._buffers) if (b is not null) d[pre + n] = b;
                }
                return d;
            }

            /// <summary>
            /// Copies values into this module's parameters and buffers. With strict, any missing,
            /// unexpected or mis-shaped key is an error that lists them all.
            /// </summary>
            public void load_state_dict(IReadOnlyDictionary<string, Tensor> source, bool strict = true)
            {
                var own = state_dict();
                var missing = own.Keys.Where(k => !source.ContainsKey(k)).ToList();
                var unexpected = source.Keys.Where(k => !own.ContainsKey(k)).ToList();
                var misShaped = new List<string>();
                foreach (var (k, t) in own)
                {
                    if (!source.TryGetValue(k, out var s)) continue;
                    var a = t.shape;
                    var b = s.shape;
                    if (!a.SequenceEqual(b)) misShaped.Add($"{k} (checkpoint [{string.Join(", ", b)}], model [{string.Join(", ", a)}])");
                }
                if (misShaped.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
                {
                    var sb = new StringBuilder("state dict does not match the model:");
                    if (missing.Count > 0) sb.Append(" missing ").Append(List(missing)).Append(';');
                    if (unexpected.Count > 0) sb.Append(" unexpected ").Append(List(unexpected)).Append(';');
                    if (misShaped.Count > 0) sb.Append(" mis-shaped ").Append(List(misShaped)).Append(';');
                    throw new StateDictException(sb.ToString().TrimEnd(';'), missing, unexpected, misShaped);
                }
                using var _ = no_grad();
                foreach (var (k, t) in own)
                    if (source.TryGetValue(k, out var s)) t.copy_(s);
            }

            private static string List(List<string> items) =>
                items.Count <= 8 ? string.Join(", ", items) : string.Join(", ", items.Take(8)) + $" and {items.Count - 8} more";

            // ---- lookup and replacement (pruning swaps in smaller tensors and modules) ----

            /// <summary>The module at a dotted path ("" is this module).</summary>
            public Module get_submodule(string path)
            {
                if (path.Length == 0) return this;
                Module m = this;
                foreach (var part in path.Split('.'))
                {
                    if (!m._modules.TryGetValue(part, out var next))
                        throw new KeyNotFoundException($"no module '{path}' (at '{part}')");
                    m = next;
                }
                return m;
            }

            private (Module owner, string leaf) Owner(string path)
            {
                int dot = path.LastIndexOf('.');
                return dot < 0 ? (this, path) : (get_submodule(path[..dot]), path[(dot + 1)..]);
            }

            public Tensor get_parameter(string path)
            {
                var (m, leaf) = Owner(path);
                return m._parameters.TryGetValue(leaf, out var p) && p is not null ? p : throw new KeyNotFoundException($"no parameter '{path}'");
            }

            public Tensor get_buffer(string path)
            {
                var (m, leaf) = Owner(path);
                return m._buffers.TryGetValue(leaf, out var b) && b is not null ? b : throw new KeyNotFoundException($"no buffer '{path}'");
            }

            /// <summary>Replaces a parameter by a new tensor (disposing the old one); the module owns the new one.</summary>
            public void set_parameter(string path, Tensor value)
            {
                var (m, leaf) = Owner(path);
                if (!m._parameters.TryGetValue(leaf, out var old)) throw new KeyNotFoundException($"no parameter '{path}'");
                if (!ReferenceEquals(old, value)) old?.Dispose();
                m.register_parameter(leaf, value);
            }

            public void set_buffer(string path, Tensor value)
            {
                var (m, leaf) = Owner(path);
                if (!m._buffers.TryGetValue(leaf, out var old)) throw new KeyNotFoundException($"no buffer '{path}'");
                if (!ReferenceEquals(old, value)) old?.Dispose();
                m.register_buffer(leaf, value);
            }

            /// <summary>Replaces the submodule at path (the old one is returned, not disposed).</summary>
            public Module set_submodule(string path, Module value)
            {
                var (m, leaf) = Owner(path);
                if (!m._modules.TryGetValue(leaf, out var old)) throw new KeyNotFoundException($"no module '{path}'");
                m._modules[leaf] = value;
                m.OnChildReplaced(leaf, value);
                return old;
            }

            /// <summary>Lets a module that caches typed references to its children follow a replacement.</summary>
            protected virtual void OnChildReplaced(string name, Module value) { }

            // ---- modes and devices ----

            public virtual Module train(bool mode = true)
            {
                foreach (var m in modules()) m.training = mode;
                return this;
            }

            public Module eval() => train(false);

            public void zero_grad()
            {
                foreach (var p in parameters()) p.grad = null;
            }

            /// <summary>Moves or converts every parameter and buffer in place (identities are kept).</summary>
            public Module to(Device device)
            {
                using var _ = no_grad();
                foreach (var t in state_dict().Values)
                {
                    using var moved = t.to(device);
                    t.set_data(moved);
                }
                return this;
            }

            public Module to(ScalarType type)
            {
                using var _ = no_grad();
                foreach (var t in state_dict().Values)
                {
                    if (!t.dtype.IsFloatingPoint()) continue;
                    using var moved = t.to(type);
                    t.set_data(moved);
                }
                return this;
            }

            public Module apply(Action<Module> fn)
            {
                foreach (var m in modules()) fn(m);
                return this;
            }

            // ---- hooks ----

            private readonly List<(int id, Func<Module, object, object, object?> hook)> _forwardHooks = new();
            private int _nextHookId;

            /// <summary>
            /// Calls hook(module, input, output) after every forward; a non-null return replaces the
            /// output. Dispose the returned handle to remove the hook.
            /// </summary>
            public IDisposable register_forward_hook(Func<Module, object, object, object?> hook)
            {
                int id = ++_nextHookId;
                _forwardHooks.Add((id, hook));
                return new HookHandle(() => _forwardHooks.RemoveAll(h => h.id == id));
            }

            protected object RunForwardHooks(object input, object output)
            {
                if (_forwardHooks.Count == 0) return output;
                foreach (var (_, hook) in _forwardHooks.ToArray())
                    output = hook(this, input, output) ?? output;
                return output;
            }

            private sealed class HookHandle(Action remove) : IDisposable
            {
                private Action? _remove = remove;
                public void Dispose()
                {
                    _remove?.Invoke();
                    _remove = null;
                }
            }

            // ---- disposal ----

            public void Dispose()
            {
                Dispose(true);
                GC.SuppressFinalize(this);
            }

            protected virtual void Dispose(bool disposing)
            {
                if (!disposing) return;
                foreach (var p in _parameters.Values) p?.Dispose();
                foreach (var b in _buffers.Values) b?.Dispose();
                foreach (var m in _modules.Values) m.Dispose();
                _parameters.Clear();
                _buffers.Clear();
                _modules.Clear();
            }

            /// <summary>A printout of the module tree with parameter shapes.</summary>
            public override string ToString()
            {
                var sb = new StringBuilder();
                foreach (var (name, m) in named_modules())
                {
                    int depth = name.Length == 0 ? 0 : name.Count(c => c == '.') + 1;
                    sb.Append(' ', depth * 2).Append(name.Length == 0 ? "" : name + ": ").Append(m.TypeName);
                    var ps = m._parameters.Where(kv => kv.Value is not null).Select(kv => $"{kv.Key}[{string.Join("x", kv.Value!.shape)}]");
                    var s = string.Join(", ", ps);
                    if (s.Length > 0) sb.Append(" (").Append(s).Append(')');
                    sb.AppendLine();
                }
                return sb.ToString();
            }
        }

        /// <summary>A module with a typed forward; <see cref="call"/> runs forward with hooks.</summary>
        public abstract class Module<T, TResult> : Module where T : notnull where TResult : notnull
        {
            protected Module(string typeName) : base(typeName) { }

            public abstract TResult forward(T input);

            /// <summary>Runs forward, then the forward hooks (which may replace the output).</summary>
            public TResult call(T input)
            {
                EnterCall(this);
                try
                {
                    var output = forward(input);
                    return (TResult)RunForwardHooks(input, output);
                }
                finally
                {
                    ExitCall();
                }
            }
        }
    }
}

/// <summary>A state dict that does not fit a model; lists every offending key.</summary>
public sealed class StateDictException(string message, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
    IReadOnlyList<string> misShaped) : Exception(message)
{
    public IReadOnlyList<string> Missing { get; } = missing;
    public IReadOnlyList<string> Unexpected { get; } = unexpected;
    public IReadOnlyList<string> MisShaped { get; } = misShaped;
}
