using System.Globalization;

namespace Slim.Data;

/// <summary>What a person wants to know about the data before training starts: how many images and objects, per class, and their sizes.</summary>
public static class DataSummary
{
    /// <summary>"train: 400 images, 1234 objects (3.1 per image; 2 difficult, 0 crowd); per class: …; images 160×160; box sides 10–150 px (median 42)".</summary>
    public static string Describe(string split, DetectionDataset data)
    {
        var ci = CultureInfo.InvariantCulture;
        var boxes = data.Samples.SelectMany(s => s.Boxes).ToList();
        var perClass = new int[data.ClassNames.Count];
        foreach (var b in boxes)
            if (b.ClassIndex >= 0 && b.ClassIndex < perClass.Length) perClass[b.ClassIndex]++;
        var sizes = data.Samples.Select(s => (s.Width, s.Height)).Distinct().ToList();
        string imageSizes = sizes.Count switch
        {
            0 => "no images",
            1 => $"images {sizes[0].Width}×{sizes[0].Height}",
            _ => $"images {sizes.Min(s => s.Width)}–{sizes.Max(s => s.Width)} × {sizes.Min(s => s.Height)}–{sizes.Max(s => s.Height)} px",
        };
        var sides = boxes.Select(b => (double)Math.Sqrt(Math.Max(0, b.Width * b.Height))).Order().ToList();
        string boxSides = sides.Count == 0 ? "" : string.Create(ci, $"; box sides √(w·h) {sides[0]:F0}–{sides[^1]:F0} px (median {sides[sides.Count / 2]:F0})");
        double perImage = data.Samples.Count == 0 ? 0 : (double)boxes.Count / data.Samples.Count;
        return string.Create(ci,
            $"{split}: {data.Samples.Count} images, {boxes.Count} objects ({perImage:F1} per image; {boxes.Count(b => b.IsDifficult)} difficult, {boxes.Count(b => b.IsCrowd)} crowd); " +
            $"per class: {PerClass(data.ClassNames, perClass)}; {imageSizes}{boxSides}");
    }

    /// <summary>"train: 60000 images in 10 classes: T-shirt/top 6000, …".</summary>
    public static string Describe(string split, ILabeledImages data, IReadOnlyList<string> classNames)
    {
        var perClass = new int[classNames.Count];
        for (int i = 0; i < data.Count; i++)
        {
            int label = data.LabelOf(i);
            if (label >= 0 && label < perClass.Length) perClass[label]++;
        }
        return $"{split}: {data.Count} images in {classNames.Count} classes: {PerClass(classNames, perClass)}";
    }

    // Every class with its count; a class without examples is said so (it cannot be learned).
    private static string PerClass(IReadOnlyList<string> names, int[] counts)
    {
        var parts = names.Select((n, i) => $"{n} {counts[i]}").ToList();
        int empty = counts.Count(c => c == 0);
        return string.Join(", ", parts) + (empty > 0 ? $" ({empty} class(es) without examples)" : "");
    }
}
