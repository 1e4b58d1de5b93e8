using System.Globalization;
using System.Text.Json;

namespace Slim.Detection;

/// <summary>The parts of a COCO instances file the evaluator needs.</summary>
/// <param name="Boxes">Every annotation as a ground-truth box (class = contiguous index of its category).</param>
/// <param name="ImageIds">Ids of every image listed, with or without annotations.</param>
/// <param name="Categories">The category map.</param>
public sealed record CocoGroundTruth(IReadOnlyList<GroundTruthBox> Boxes, IReadOnlyList<long> ImageIds, CocoCategories Categories);

/// <summary>
/// Reads COCO instances annotations and reads/writes COCO detection results
/// (a JSON array of {"image_id", "category_id", "bbox": [x, y, w, h], "score"}).
/// </summary>
public static class CocoJson
{
    /// <summary>Reads the images, categories and annotations arrays of a COCO instances file.</summary>
    /// <exception cref="CocoFormatException">The file is missing, not JSON, or an entry lacks a required field.</exception>
    public static CocoGroundTruth ReadAnnotations(string path)
    {
        using var doc = Parse(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new CocoFormatException($"{path}: expected a JSON object with images, categories and annotations, found {root.ValueKind}");

        var images = new List<long>();
        foreach (var (img, i) in Array(root, "images", path))
            images.Add(Long(img, "id", path, $"images[{i}]"));
        var imageSet = new HashSet<long>();
        foreach (var id in images)
            if (!imageSet.Add(id)) throw new CocoFormatException($"{path}: image id {id} is listed twice in images");

        var cats = new List<(long, string)>();
        foreach (var (cat, i) in Array(root, "categories", path))
            cats.Add((Long(cat, "id", path, $"categories[{i}]"),
                cat.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : $"category {Long(cat, "id", path, $"categories[{i}]")}"));
        CocoCategories categories;
        try { categories = new CocoCategories(cats); }
        catch (ArgumentException e) { throw new CocoFormatException($"{path}: {e.Message}"); }

        var boxes = new List<GroundTruthBox>();
        foreach (var (ann, i) in Array(root, "annotations", path))
        {
            var where = $"annotations[{i}]";
            long imageId = Long(ann, "image_id", path, where);
            if (!imageSet.Contains(imageId))
                throw new CocoFormatException($"{path}: {where} has image_id {imageId}, which is not in images");
            long catId = Long(ann, "category_id", path, where);
            int cls = categories.ClassOf(catId)
                ?? throw new CocoFormatException($"{path}: {where} has category_id {catId}, which is not in categories");
            var bb = Bbox(ann, path, where);
            double? area = ann.TryGetProperty("area", out var a) && a.ValueKind == JsonValueKind.Number ? a.GetDouble() : null;
            bool crowd = ann.TryGetProperty("iscrowd", out var c) && c.ValueKind == JsonValueKind.Number && c.GetDouble() != 0;
            boxes.Add(new GroundTruthBox(imageId, cls, bb[0], bb[1], bb[0] + bb[2], bb[1] + bb[3], crowd, false, area));
        }
        return new CocoGroundTruth(boxes, images, categories);
    }

    /// <summary>Reads a results file, mapping category ids to class indexes.</summary>
    /// <param name="path">The results JSON.</param>
    /// <param name="categories">Category map of the annotations.</param>
    /// <param name="imageIds">If given, every result's image must be one of these.</param>
    /// <param name="annotationsPath">Named in messages about unknown ids.</param>
    /// <exception cref="CocoFormatException">Malformed file, or an unknown image or category id.</exception>
    public static List<DetectedBox> ReadResults(string path, CocoCategories categories, IEnumerable<long>? imageIds = null,
        string annotationsPath = "the annotations")
    {
        using var doc = Parse(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Array)
            throw new CocoFormatException($"{path}: expected a JSON array of {{image_id, category_id, bbox, score}}, found {root.ValueKind}");
        var images = imageIds?.ToHashSet();
        var result = new List<DetectedBox>();
        int i = 0;
        foreach (var r in root.EnumerateArray())
        {
            var where = $"result {i}";
            if (r.ValueKind != JsonValueKind.Object) throw new CocoFormatException($"{path}: {where} is {r.ValueKind}, expected an object");
            long imageId = Long(r, "image_id", path, where);
            if (images is not null && !images.Contains(imageId))
                throw new CocoFormatException($"{path}: {where} has image_id {imageId}, which {annotationsPath} does not list");
            long catId = Long(r, "category_id", path, where);
            int cls = categories.ClassOf(catId)
                ?? throw new CocoFormatException($"{path}: {where} has category_id {catId}, which {annotationsPath} does not list (known: {string.Join(", ", categories.CategoryIds.Take(20))}{(categories.Count > 20 ? ", …" : "")})");
            var bb = Bbox(r, path, where);
            double score = Number(r, "score", path, where);
            result.Add(new DetectedBox(imageId, cls, (float)score, (float)bb[0], (float)bb[1], (float)(bb[0] + bb[2]), (float)(bb[1] + bb[3])));
            i++;
        }
        return result;
    }

    /// <summary>Writes detections as a COCO results file (atomically: a temporary file, then a rename).</summary>
    /// <param name="path">Destination.</param>
    /// <param name="detections">Detections with contiguous class indexes.</param>
    /// <param name="categories">Maps each class index to its category id.</param>
    public static void WriteResults(string path, IEnumerable<DetectedBox> detections, CocoCategories categories)
    {
        AtomicFile.Write(path, stream =>
        {
            using var w = new Utf8JsonWriter(stream);
            w.WriteStartArray();
            foreach (var d in detections)
            {
                w.WriteStartObject();
                w.WriteNumber("image_id", d.ImageId);
                w.WriteNumber("category_id", categories.CategoryOf(d.ClassId));
                w.WriteStartArray("bbox");
                // Through double so the values round-trip exactly as the float32 the model produced.
                w.WriteNumberValue((double)d.X1);
                w.WriteNumberValue((double)d.Y1);
                w.WriteNumberValue((double)d.X2 - d.X1);
                w.WriteNumberValue((double)d.Y2 - d.Y1);
                w.WriteEndArray();
                w.WriteNumber("score", (double)d.Score);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }

    private static JsonDocument Parse(string path)
    {
        if (!File.Exists(path)) throw new CocoFormatException($"{path}: file not found");
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new CocoFormatException($"{path}: not valid JSON at {JsonErrors.Describe(e)}", e);
        }
    }

    private static IEnumerable<(JsonElement, int)> Array(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out var arr) || arr.ValueKind != JsonValueKind.Array)
            throw new CocoFormatException($"{path}: missing the '{key}' array of a COCO instances file");
        int i = 0;
        foreach (var e in arr.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object) throw new CocoFormatException($"{path}: {key}[{i}] is {e.ValueKind}, expected an object");
            yield return (e, i++);
        }
    }

    private static double Number(JsonElement e, string key, string path, string where)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind != JsonValueKind.Number)
            throw new CocoFormatException($"{path}: {where} lacks a numeric '{key}'");
        return v.GetDouble();
    }

    private static long Long(JsonElement e, string key, string path, string where)
    {
        double v = Number(e, key, path, where);
        if (v != Math.Floor(v)) throw new CocoFormatException($"{path}: {where} has '{key}' = {v.ToString(CultureInfo.InvariantCulture)}, expected an integer");
        return (long)v;
    }

    private static double[] Bbox(JsonElement e, string path, string where)
    {
        if (!e.TryGetProperty("bbox", out var b) || b.ValueKind != JsonValueKind.Array || b.GetArrayLength() != 4
            || b.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Number))
            throw new CocoFormatException($"{path}: {where} needs 'bbox' as four numbers [x, y, width, height]");
        var r = b.EnumerateArray().Select(x => x.GetDouble()).ToArray();
        if (r[2] < 0 || r[3] < 0)
            throw new CocoFormatException($"{path}: {where} has a negative bbox width or height [{string.Join(", ", r.Select(x => x.ToString(CultureInfo.InvariantCulture)))}]");
        return r;
    }
}
