namespace Slim.Data;

/// <summary>
/// A classification set in the ImageNet folder layout: <c>split/&lt;class&gt;/*.jpg|png|…</c>, one folder
/// per class (sorted by ordinal name: label 0 is the first). Images are read when a batch needs them.
/// </summary>
public sealed class ImageFolderData : ILabeledImages
{
    private static readonly string[] Extensions = { ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff" };
    private readonly IReadOnlyList<(string Path, int Label)> _items;

    private ImageFolderData(string root, IReadOnlyList<string> classNames, IReadOnlyList<(string, int)> items)
    {
        Root = root;
        ClassNames = classNames;
        _items = items;
    }

    /// <summary>The split folder.</summary>
    public string Root { get; }

    /// <summary>The class folder names, by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <inheritdoc/>
    public int Count => _items.Count;

    /// <summary>The file of image <paramref name="i"/>.</summary>
    public string PathOf(int i) => _items[i].Path;

    /// <inheritdoc/>
    public int LabelOf(int i) => _items[i].Label;

    /// <inheritdoc/>
    public Image GetImage(int i)
    {
        try
        {
            return Image.Load(_items[i].Path);
        }
        catch (ImageException e)
        {
            throw new DatasetException(_items[i].Path, $"{_items[i].Path}: {e.Message}", e);
        }
    }

    /// <summary>The first n images in file order; with n below <see cref="Count"/> the cut takes every class in turn, so it stays balanced.</summary>
    public ILabeledImages Take(int n)
    {
        if (n <= 0 || n >= Count) return this;
        var byClass = _items.GroupBy(x => x.Label).OrderBy(g => g.Key).Select(g => new Queue<(string, int)>(g)).ToList();
        var taken = new List<(string, int)>(n);
        while (taken.Count < n)
            foreach (var q in byClass)
                if (taken.Count < n && q.Count > 0) taken.Add(q.Dequeue());
        return new ImageFolderData(Root, ClassNames, taken);
    }

    /// <summary>
    /// Lists <paramref name="split"/>'s class folders and image files. <paramref name="classNames"/>
    /// (the training split's) fixes the labels of another split; a class folder it lacks is an error.
    /// </summary>
    public static ImageFolderData Load(string split, IReadOnlyList<string>? classNames = null)
    {
        if (!Directory.Exists(split))
            throw new DatasetException(split, $"image folder '{split}' does not exist; the layout is root/train/<class>/*.jpg and root/val/<class>/*.jpg");
        var folders = Directory.GetDirectories(split).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (folders.Count == 0)
            throw new DatasetException(split, $"image folder '{split}' has no class folders; put each class's images in split/<class>/");
        var names = classNames ?? folders!;
        var unknown = folders.Where(f => !names.Contains(f!)).ToList();
        if (unknown.Count > 0)
            throw new DatasetException(split, $"image folder '{split}': class folder(s) {string.Join(", ", unknown)} are not among the training classes ({string.Join(", ", names.Take(8))}…)");
        var items = new List<(string, int)>();
        for (int label = 0; label < names.Count; label++)
        {
            var dir = Path.Combine(split, names[label]!);
            if (!Directory.Exists(dir)) continue;
            items.AddRange(Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
                .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .OrderBy(f => f, StringComparer.Ordinal)
                .Select(f => (f, label)));
        }
        if (items.Count == 0)
            throw new DatasetException(split, $"image folder '{split}' holds no images ({string.Join(", ", Extensions)}) in its class folders");
        return new ImageFolderData(split, names!, items);
    }
}
