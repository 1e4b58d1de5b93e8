using static Slim.Torch.torch;

namespace Slim.Torch.Modules;

/// <summary>Runs its children in order; children are named "0", "1", … unless named explicitly.</summary>
public sealed class Sequential : nn.Module<Tensor, Tensor>
{
    private readonly List<nn.Module<Tensor, Tensor>> _layers = new();
    private readonly List<string> _names = new();

    public Sequential(params nn.Module<Tensor, Tensor>[] layers) : base("Sequential")
    {
        foreach (var l in layers) Add(l);
    }

    public Sequential(params (string name, nn.Module<Tensor, Tensor> module)[] layers) : base("Sequential")
    {
        foreach (var (n, l) in layers) Add(n, l);
    }

    public void Add(nn.Module<Tensor, Tensor> layer) => Add(_layers.Count.ToString(), layer);

    public void Add(string name, nn.Module<Tensor, Tensor> layer)
    {
        register_module(name, layer);
        _layers.Add(layer);
        _names.Add(name);
    }

    public int Count => _layers.Count;
    public nn.Module<Tensor, Tensor> this[int i] => _layers[i];

    protected override void OnChildReplaced(string name, nn.Module value)
    {
        int i = _names.IndexOf(name);
        _layers[i] = (nn.Module<Tensor, Tensor>)value;
    }

    public override Tensor forward(Tensor x)
    {
        // Intermediates are left to the caller's dispose scope: a forward hook may keep one.
        Tensor cur = x;
        foreach (var layer in _layers) cur = layer.call(cur);
        return ReferenceEquals(cur, x) ? x.alias() : cur;
    }
}

/// <summary>A list of modules named "0", "1", …; indexing returns them in order.</summary>
public sealed class ModuleList<T> : nn.Module, IEnumerable<T> where T : nn.Module
{
    private readonly List<T> _items = new();

    public ModuleList(params T[] items) : base("ModuleList")
    {
        foreach (var m in items) Add(m);
    }

    public void Add(T m)
    {
        register_module(_items.Count.ToString(), m);
        _items.Add(m);
    }

    public int Count => _items.Count;
    public T this[int i] => _items[i];

    protected override void OnChildReplaced(string name, nn.Module value) => _items[int.Parse(name)] = (T)value;

    public IEnumerator<T> GetEnumerator() => _items.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Modules under names of the caller's choosing.</summary>
public sealed class ModuleDict<T> : nn.Module where T : nn.Module
{
    private readonly OrderedDictionary<string, T> _items = new();

    public ModuleDict() : base("ModuleDict") { }

    public void Add(string name, T m)
    {
        register_module(name, m);
        _items[name] = m;
    }

    public T this[string name] => _items[name];
    public IEnumerable<string> Keys => _items.Keys;
    public int Count => _items.Count;

    protected override void OnChildReplaced(string name, nn.Module value) => _items[name] = (T)value;
}
