using System.Text.Json;

namespace Slim.Data;

/// <summary>Reads a COCO "instances" annotation file into a <see cref="DetectionDataset"/>.</summary>
public static class CocoDataset
{
    /// <summary>
    /// Reads <paramref name="annotationFile"/> (COCO instances json); image file names resolve against
    /// <paramref name="imageDir"/>. Categories are sorted by id and mapped to contiguous class indices;
    /// bbox [x, y, w, h] becomes [x1, y1, x2, y2]; boxes are clipped to the image and degenerate ones
    /// dropped (counted in <see cref="DetectionDataset.Report"/> and passed to <paramref name="log"/>).
    /// Images without annotations are kept (they are negatives).
    /// </summary>
    /// <exception cref="DatasetException">The file is missing, not valid json, lacks required fields,
    /// has no images or categories, or an annotation names an unknown image or category.</exception>
    public static DetectionDataset Load(string annotationFile, string imageDir, Action<string>? log = null)
    {
        if (!File.Exists(annotationFile))
            throw new DatasetException(annotationFile, $"COCO annotation file '{annotationFile}' does not exist.");
        JsonDocument doc;
        try
        {
            using var stream = File.OpenRead(annotationFile);
            doc = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new DatasetException(annotationFile, $"COCO annotation file '{annotationFile}' is not valid JSON at {JsonErrors.Describe(e)}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Bad(annotationFile, "the top level must be an object with images, annotations and categories");

            var categories = Array(root, "categories", annotationFile)
                .Select((c, i) => (Id: Int(c, "id", $"categories[{i}]", annotationFile), Name: Str(c, "name", $"categories[{i}]", annotationFile)))
                .OrderBy(c => c.Id).ToList();
            if (categories.Count == 0) throw Bad(annotationFile, "'categories' is empty; at least one category is needed");
            var classOf = new Dictionary<int, int>();
            foreach (var (id, _) in categories)
                if (!classOf.TryAdd(id, classOf.Count)) throw Bad(annotationFile, $"category id {id} appears twice");

            var images = Array(root, "images", annotationFile);
            if (images.Count == 0) throw Bad(annotationFile, "'images' is empty; the dataset has no images");
            var order = new List<long>();
            var info = new Dictionary<long, (string File, int W, int H)>();
            for (int i = 0; i < images.Count; i++)
            {
                var where = $"images[{i}]";
                var id = Long(images[i], "id", where, annotationFile);
                var file = Str(images[i], "file_name", where, annotationFile);
                var w = Int(images[i], "width", where, annotationFile);
                var h = Int(images[i], "height", where, annotationFile);
                if (w <= 0 || h <= 0) throw Bad(annotationFile, $"{where} ('{file}') has size {w}x{h}; width and height must be positive");
                if (!info.TryAdd(id, (file, w, h))) throw Bad(annotationFile, $"image id {id} appears twice");
                order.Add(id);
            }

            var boxes = order.ToDictionary(id => id, _ => new List<BoxAnnotation>());
            var anns = root.TryGetProperty("annotations", out _) ? Array(root, "annotations", annotationFile) : new List<JsonElement>();
            for (int i = 0; i < anns.Count; i++)
            {
                var a = anns[i];
                var where = $"annotations[{i}]";
                var imageId = Long(a, "image_id", where, annotationFile);
                var catId = Int(a, "category_id", where, annotationFile);
                if (!boxes.TryGetValue(imageId, out var list)) throw Bad(annotationFile, $"{where} refers to image id {imageId}, which is not in 'images'");
                if (!classOf.TryGetValue(catId, out var cls)) throw Bad(annotationFile, $"{where} refers to category id {catId}, which is not in 'categories'");
                if (!a.TryGetProperty("bbox", out var bb) || bb.ValueKind != JsonValueKind.Array || bb.GetArrayLength() != 4)
                    throw Bad(annotationFile, $"{where}.bbox must be an array [x, y, width, height]");
                var v = bb.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number ? e.GetSingle()
                    : throw Bad(annotationFile, $"{where}.bbox must hold numbers")).ToArray();
                bool crowd = a.TryGetProperty("iscrowd", out var ic) && ic.ValueKind == JsonValueKind.Number && ic.GetInt32() != 0;
                float area = a.TryGetProperty("area", out var ar) && ar.ValueKind == JsonValueKind.Number ? ar.GetSingle() : v[2] * v[3];
                list.Add(new BoxAnnotation(v[0], v[1], v[0] + v[2], v[1] + v[3], cls, IsCrowd: crowd, Area: area));
            }

            var report = new DatasetReport();
            var samples = new List<DetectionSample>(order.Count);
            foreach (var id in order)
            {
                var (file, w, h) = info[id];
                var path = Path.GetFullPath(Path.Combine(imageDir, file));
                var kept = BoxSanitizer.Sanitize(boxes[id], w, h, $"{annotationFile}: image {id} ('{file}')", report, log);
                samples.Add(new DetectionSample(id, path, w, h, kept));
            }
            return new DetectionDataset(annotationFile, categories.Select(c => c.Name).ToArray(), samples,
                categories.Select(c => c.Id).ToArray(), report);
        }
    }

    private static DatasetException Bad(string file, string what) =>
        new(file, $"COCO annotation file '{file}': {what}.");

    private static List<JsonElement> Array(JsonElement root, string name, string file)
    {
        if (!root.TryGetProperty(name, out var arr))
            throw Bad(file, $"missing the '{name}' list");
        if (arr.ValueKind != JsonValueKind.Array) throw Bad(file, $"'{name}' must be a list");
        return arr.EnumerateArray().ToList();
    }

    private static JsonElement Field(JsonElement e, string name, string where, string file)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var v))
            throw Bad(file, $"{where} has no '{name}'");
        return v;
    }

    private static long Long(JsonElement e, string name, string where, string file) =>
        Field(e, name, where, file) is { ValueKind: JsonValueKind.Number } v && v.TryGetInt64(out var x) ? x
            : throw Bad(file, $"{where}.{name} must be an integer");

    private static int Int(JsonElement e, string name, string where, string file) =>
        Field(e, name, where, file) is { ValueKind: JsonValueKind.Number } v && v.TryGetInt32(out var x) ? x
            : throw Bad(file, $"{where}.{name} must be an integer");

    private static string Str(JsonElement e, string name, string where, string file) =>
        Field(e, name, where, file) is { ValueKind: JsonValueKind.String } v ? v.GetString()!
            : throw Bad(file, $"{where}.{name} must be a string");
}
