using Slim.Data;

namespace Slim.Segmentation;

/// <summary>
/// Scores label PNGs that some tool wrote against ground-truth label PNGs, as Cityscapes' and PaddleSeg's evaluation do:
/// one <see cref="ConfusionMatrix"/> over every pixel of every image.
/// </summary>
public static class MaskEvaluator
{
    // Cityscapes names an image's files after it with these endings: frankfurt_000000_000294_gtFine_labelTrainIds.png
    // (ground truth) and frankfurt_000000_000294_leftImg8bit.png (image, and most tools' predictions).
    private static readonly string[] Endings = ["_gtFine_labelTrainIds", "_gtFine_labelIds", "_gtFine_color", "_leftImg8bit"];

    /// <summary>The name that pairs a prediction with its ground truth: the file's name without extension and Cityscapes' endings.</summary>
    public static string PairKey(string path)
    {
        var stem = Path.GetFileNameWithoutExtension(path);
        foreach (var end in Endings)
            if (stem.EndsWith(end, StringComparison.Ordinal)) return stem[..^end.Length];
        return stem;
    }

    /// <summary>
    /// Pairs every ground-truth PNG under <paramref name="truthDir"/> (subfolders included) with the prediction of the same
    /// name under <paramref name="predictionDir"/>, checks that each has one before reading any, then counts all pixels.
    /// Predictions without ground truth are left out and counted in the result.
    /// </summary>
    /// <exception cref="SlimException">A folder is missing or empty, a ground truth has no prediction, the two differ in
    /// size, a name is ambiguous, or a label is out of range (each naming the file).</exception>
    public static (ConfusionMatrix Matrix, int Images, int UnpairedPredictions) EvaluateFolders(string truthDir, string predictionDir, int numClasses,
        int ignoreIndex = 255)
    {
        var truth = Index(truthDir, "--masks");
        var predictions = Index(predictionDir, "--predictions");
        var missing = truth.Keys.Where(k => !predictions.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
            throw new SlimException($"--predictions {predictionDir}: no prediction for {missing.Count} of the {truth.Count} ground-truth masks, e.g. " +
                                    $"{Path.GetRelativePath(truthDir, truth[missing[0]])} (a prediction is paired by file name, Cityscapes' _gtFine_labelTrainIds and _leftImg8bit endings aside)");
        var pairs = truth.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (Truth: kv.Value, Prediction: predictions[kv.Key])).ToList();
        // Images are read and counted in parallel, each into its own matrix; the first failing image in name order is the
        // one reported, so the same folders always give the same message.
        var counted = new ConfusionMatrix?[pairs.Count];
        var failed = new Exception?[pairs.Count];
        Parallel.For(0, pairs.Count, i =>
        {
            try { counted[i] = Count(pairs[i].Truth, pairs[i].Prediction, numClasses, ignoreIndex); }
            catch (Exception e) when (e is SlimException) { failed[i] = e; }
        });
        if (failed.FirstOrDefault(e => e is not null) is { } first) throw first;
        var total = new ConfusionMatrix(numClasses, ignoreIndex);
        foreach (var m in counted) total.Add(m!);
        return (total, pairs.Count, predictions.Count - pairs.Count);
    }

    private static ConfusionMatrix Count(string truthPath, string predictionPath, int numClasses, int ignoreIndex)
    {
        var t = LabelMap.Load(truthPath);
        var p = LabelMap.Load(predictionPath);
        if (t.Width != p.Width || t.Height != p.Height)
            throw new SlimException($"{predictionPath} is {p.Width}×{p.Height} but its ground truth {truthPath} is {t.Width}×{t.Height}; predict at the ground truth's size");
        var matrix = new ConfusionMatrix(numClasses, ignoreIndex);
        try
        {
            matrix.Add(t.Labels, p.Labels);
        }
        catch (LabelOutOfRangeException e)
        {
            throw new SlimException($"{(e.Truth ? truthPath : predictionPath)}: label {e.Label} at x {e.Index % t.Width}, y {e.Index / t.Width} is not one of the " +
                                    $"{numClasses} classes (0…{numClasses - 1}){(e.Truth ? $" nor the ignore index {ignoreIndex}" : "")}; is --num-classes right?");
        }
        return matrix;
    }

    private static Dictionary<string, string> Index(string dir, string option)
    {
        if (!Directory.Exists(dir)) throw new SlimException($"{option} {dir}: folder not found");
        var files = Directory.EnumerateFiles(dir, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new SlimException($"{option} {dir}: no .png label maps in it (or its subfolders)");
        var index = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in files)
            if (!index.TryAdd(PairKey(f), f))
                throw new SlimException($"{option} {dir}: {Path.GetRelativePath(dir, index[PairKey(f)])} and {Path.GetRelativePath(dir, f)} pair with the same name; keep one");
        return index;
    }
}
