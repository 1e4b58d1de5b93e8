using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Slim.Data;

/// <summary>Reads a Pascal VOC style dataset (Annotations/*.xml, JPEGImages, ImageSets/Main/&lt;split&gt;.txt).</summary>
public static class VocDataset
{
    /// <summary>The 20 Pascal VOC classes, in the usual (alphabetical) order.</summary>
    public static readonly IReadOnlyList<string> StandardClasses = new[]
    {
        "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    };

    /// <summary>
    /// Reads split <paramref name="split"/> of the VOC folder <paramref name="root"/>.
    /// The image list is ImageSets/Main/&lt;split&gt;.txt (one image id per line, extra columns ignored)
    /// or, failing that, &lt;root&gt;/&lt;split&gt;.txt in PaddleDetection's form ("JPEGImages/x.jpg Annotations/x.xml"
    /// per line). Class names come from <paramref name="labelListFile"/>, else &lt;root&gt;/label_list.txt when
    /// present, else <see cref="StandardClasses"/>. Boxes are clipped to the image and degenerate ones dropped
    /// (counted in the report and passed to <paramref name="log"/>).
    /// </summary>
    /// <exception cref="DatasetException">A list, label or xml file is missing or malformed, the split is
    /// empty, or an object's class is not in the class list (the message names the file, the name and the
    /// nearest valid class).</exception>
    public static DetectionDataset Load(string root, string split = "train", string? labelListFile = null, Action<string>? log = null)
    {
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root)) throw new DatasetException(root, $"VOC folder '{root}' does not exist.");
        var classes = ReadClasses(root, labelListFile);
        var classIndex = classes.Select((n, i) => (n, i)).ToDictionary(t => t.n, t => t.i, StringComparer.Ordinal);

        var entries = ReadList(root, split, out var listFile);
        if (entries.Count == 0)
            throw new DatasetException(listFile, $"VOC image list '{listFile}' is empty; the split '{split}' has no images.");

        var report = new DatasetReport();
        var samples = new List<DetectionSample>(entries.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            var (imagePath, xmlPath) = entries[i];
            samples.Add(ReadAnnotation(xmlPath, imagePath, i, classIndex, classes, report, log));
        }
        return new DetectionDataset(listFile, classes, samples, null, report);
    }

    private static IReadOnlyList<string> ReadClasses(string root, string? labelListFile)
    {
        var file = labelListFile ?? Path.Combine(root, "label_list.txt");
        if (labelListFile is null && !File.Exists(file)) return StandardClasses;
        if (!File.Exists(file)) throw new DatasetException(file, $"VOC label list '{file}' does not exist.");
        var names = File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length == 0) throw new DatasetException(file, $"VOC label list '{file}' is empty; it needs one class name per line.");
        var dup = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new DatasetException(file, $"VOC label list '{file}' names class '{dup.Key}' twice.");
        return names;
    }

    private static List<(string Image, string Xml)> ReadList(string root, string split, out string listFile)
    {
        var main = Path.Combine(root, "ImageSets", "Main", split + ".txt");
        var paddle = Path.Combine(root, split + ".txt");
        var result = new List<(string, string)>();
        if (File.Exists(main))
        {
            listFile = main;
            foreach (var line in File.ReadAllLines(main))
            {
                var id = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
                if (id is null) continue;
                result.Add((Path.Combine(root, "JPEGImages", id + ".jpg"), Path.Combine(root, "Annotations", id + ".xml")));
            }
            return result;
        }
        if (File.Exists(paddle))
        {
            listFile = paddle;
            var lines = File.ReadAllLines(paddle);
            for (int n = 0; n < lines.Length; n++)
            {
                var parts = lines[n].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 0) continue;
                if (parts.Length != 2)
                    throw new DatasetException(paddle, $"VOC image list '{paddle}' line {n + 1}: expected 'image_path annotation_path', got '{lines[n].Trim()}'.");
                result.Add((Path.GetFullPath(Path.Combine(root, parts[0])), Path.GetFullPath(Path.Combine(root, parts[1]))));
            }
            return result;
        }
        throw new DatasetException(main, $"VOC split '{split}' not found: neither '{main}' nor '{paddle}' exists.");
    }

    private static DetectionSample ReadAnnotation(string xmlPath, string imagePath, int index, Dictionary<string, int> classIndex,
        IReadOnlyList<string> classes, DatasetReport report, Action<string>? log)
    {
        if (!File.Exists(xmlPath)) throw new DatasetException(xmlPath, $"VOC annotation file '{xmlPath}' does not exist.");
        XElement ann;
        try
        {
            ann = XDocument.Load(xmlPath, LoadOptions.SetLineInfo).Root
                ?? throw new DatasetException(xmlPath, $"VOC annotation file '{xmlPath}' has no root element.");
        }
        catch (XmlException e)
        {
            throw new DatasetException(xmlPath, $"VOC annotation file '{xmlPath}' is not valid xml: {e.Message}", e);
        }

        int width = 0, height = 0;
        var size = ann.Element("size");
        if (size is not null)
        {
            width = (int)Number(size, "width", xmlPath);
            height = (int)Number(size, "height", xmlPath);
        }
        if (width <= 0 || height <= 0)
        {
            // Some exporters leave <size> out or write zeros; the image itself knows.
            var img = Image.Load(imagePath);
            (width, height) = (img.Width, img.Height);
        }

        var boxes = new List<BoxAnnotation>();
        foreach (var obj in ann.Elements("object"))
        {
            var name = obj.Element("name")?.Value.Trim();
            var line = ((IXmlLineInfo)obj).LineNumber;
            if (string.IsNullOrEmpty(name))
                throw new DatasetException(xmlPath, $"VOC annotation file '{xmlPath}' line {line}: <object> has no <name>.");
            if (!classIndex.TryGetValue(name, out var cls))
                throw new DatasetException(xmlPath,
                    $"VOC annotation file '{xmlPath}' line {line}: unknown class '{name}'; did you mean '{Slim.Common.Suggest.Ranked(name, classes, 1).FirstOrDefault()}'? " +
                    $"Valid classes: {string.Join(", ", classes)}.");
            bool difficult = obj.Element("difficult")?.Value.Trim() is { } d && d != "0" && d.Length > 0;
            var bb = obj.Element("bndbox")
                ?? throw new DatasetException(xmlPath, $"VOC annotation file '{xmlPath}' line {line}: <object> '{name}' has no <bndbox>.");
            float x1 = Number(bb, "xmin", xmlPath), y1 = Number(bb, "ymin", xmlPath), x2 = Number(bb, "xmax", xmlPath), y2 = Number(bb, "ymax", xmlPath);
            boxes.Add(new BoxAnnotation(x1, y1, x2, y2, cls, IsDifficult: difficult, Area: Math.Max(0, x2 - x1) * Math.Max(0, y2 - y1)));
        }
        var kept = BoxSanitizer.Sanitize(boxes, width, height, xmlPath, report, log);
        return new DetectionSample(index, imagePath, width, height, kept);
    }

    private static float Number(XElement parent, string name, string file)
    {
        var e = parent.Element(name);
        var line = ((IXmlLineInfo)parent).LineNumber;
        if (e is null) throw new DatasetException(file, $"VOC annotation file '{file}' line {line}: <{parent.Name}> has no <{name}>.");
        if (!float.TryParse(e.Value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !float.IsFinite(v))
            throw new DatasetException(file, $"VOC annotation file '{file}' line {((IXmlLineInfo)e).LineNumber}: <{name}> must be a number, got '{e.Value.Trim()}'.");
        return v;
    }
}
