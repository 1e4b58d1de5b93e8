namespace Slim.Detection;

/// <summary>
/// Maps COCO category ids (sparse, e.g. 1..90) to the contiguous class indexes a model predicts: the
/// categories sorted by id, numbered from 0 (PaddleDetection's catid2clsid).
/// </summary>
public sealed class CocoCategories
{
    private readonly long[] _ids;
    private readonly string[] _names;
    private readonly Dictionary<long, int> _classOf;

    /// <summary>Creates the map from (category id, name) pairs in any order; ids must be distinct.</summary>
    public CocoCategories(IEnumerable<(long Id, string Name)> categories)
    {
        var sorted = categories.OrderBy(c => c.Id).ToArray();
        _ids = sorted.Select(c => c.Id).ToArray();
        _names = sorted.Select(c => c.Name).ToArray();
        _classOf = new Dictionary<long, int>();
        for (int i = 0; i < _ids.Length; i++)
            if (!_classOf.TryAdd(_ids[i], i)) throw new ArgumentException($"CocoCategories: category id {_ids[i]} appears twice");
    }

    /// <summary>Number of categories (classes).</summary>
    public int Count => _ids.Length;

    /// <summary>Category ids in class order.</summary>
    public IReadOnlyList<long> CategoryIds => _ids;

    /// <summary>Category names in class order.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>Names by class index.</summary>
    public IReadOnlyDictionary<int, string> ClassNames => Enumerable.Range(0, _names.Length).ToDictionary(i => i, i => _names[i]);

    /// <summary>The class index of a category id, or null if the id is unknown.</summary>
    public int? ClassOf(long categoryId) => _classOf.TryGetValue(categoryId, out var c) ? c : null;

    /// <summary>The category id of a class index.</summary>
    public long CategoryOf(int classId) =>
        classId >= 0 && classId < _ids.Length ? _ids[classId]
            : throw new ArgumentOutOfRangeException(nameof(classId), $"class {classId} is outside 0..{_ids.Length - 1} ({_ids.Length} categories)");

    /// <summary>Categories 1..n named by <paramref name="names"/> (class i has category id i + 1).</summary>
    public static CocoCategories Sequential(IReadOnlyList<string> names) => new(names.Select((n, i) => ((long)(i + 1), n)));
}
