using System.Text.RegularExpressions;
using Slim.Models;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Slim.Import;

/// <summary>
/// Where one source tensor goes: a Slim state-dict name (transposed for a Paddle fc weight; a 1×1 conv's
/// [out, in, 1, 1] weight flattened into a fully connected one's [out, in]; each value v taken as
/// v·<see cref="Scale"/> + <see cref="Shift"/> where the two frameworks' layers differ by a constant), or nowhere and why.
/// </summary>
public readonly record struct Mapped(string? Target, string? Skipped = null, bool Transpose = false, float Scale = 1f, float Shift = 0f, bool Flatten = false)
{
    public static Mapped To(string target, bool transpose = false, float scale = 1f, float shift = 0f, bool flatten = false) =>
        new(target, null, transpose, scale, shift, flatten);
    public static Mapped Skip(string why) => new(null, why);
    public static readonly Mapped None = new(null, null);
}

/// <summary>
/// Translates another framework's state-dict names into Slim's. The built-in maps cover torchvision's classifiers;
/// <see cref="FromFile"/> reads a user's rules (regex → name) for anything else.
/// </summary>
public abstract class WeightMap
{
    /// <summary>What the map is, for the report ("torchvision resnet").</summary>
    public abstract string Name { get; }

    /// <summary>The input normalization the source was trained with (RGB, on [0, 1] pixels); null when unknown.</summary>
    public virtual (float[] Mean, float[] Std)? Normalization => (ImageNetMean, ImageNetStd);

    /// <summary>The form of the architecture the source's tensors fit (Paddle's, torchvision's); null when the map does not say.</summary>
    public virtual ModelLayout? Layout => null;

    /// <summary>Maps one source name.</summary>
    public abstract Mapped Map(string source);

    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>Names of the built-in maps (for --help).</summary>
    public static IReadOnlyList<string> BuiltIn { get; } =
    [
        "torchvision mobilenet_v2 (mobilenet_v2)", "torchvision resnet18/34/50 (resnet18, resnet34, resnet50, and the backbone of yolov3_resnet34)",
        "torchvision mobilenet_v3_large/small (mobilenet_v3_large/small, and the backbone of yolov3_mobilenet_v3_large/small; BN eps 0.001 carried by the running variance)",
        "PaddleDetection yolov3_mobilenet_v1 and PaddleClas MobileNetV1 (yolov3_mobilenet_v1, mobilenet_v1)",
        "PaddleClas MobileNetV2 (mobilenet_v2)",
        "PaddleClas ResNet18/34/50 (resnet18, resnet34, resnet50)", "PaddleDetection yolov3_r34 and its ResNet34 backbone (yolov3_resnet34)",
        "PaddleDetection yolov3_mobilenet_v3_large/small, and PaddleClas MobileNetV3 (mobilenet_v3_large/small, and the detectors' backbone; the SE gate's slope 0.2 carried by its second conv ×1.2)",
    ];

    /// <summary>The built-in map for a Slim architecture and a source format; null when there is none (give --map).</summary>
    public static WeightMap? For(string architecture, WeightFormat format) => (format, architecture) switch
    {
        (WeightFormat.Torch, "mobilenet_v2") => new TorchvisionMobileNetV2(),
        (WeightFormat.Torch, "resnet18" or "resnet34" or "resnet50" or "yolov3_resnet34") => new TorchvisionResNet(),
        (WeightFormat.Torch, "mobilenet_v3_large" or "yolov3_mobilenet_v3_large") => new TorchvisionMobileNetV3(MobileNetV3Size.Large),
        (WeightFormat.Torch, "mobilenet_v3_small" or "yolov3_mobilenet_v3_small") => new TorchvisionMobileNetV3(MobileNetV3Size.Small),
        (WeightFormat.Paddle, "mobilenet_v1" or "yolov3_mobilenet_v1") => new PaddleMobileNetV1(),
        (WeightFormat.Paddle, "mobilenet_v2") => new PaddleClasMobileNetV2(),
        (WeightFormat.Paddle, "resnet18") => new PaddleResNet(18),
        (WeightFormat.Paddle, "resnet34" or "yolov3_resnet34") => new PaddleResNet(34),
        (WeightFormat.Paddle, "resnet50") => new PaddleResNet(50),
        (WeightFormat.Paddle, "yolov3_mobilenet_v3_large" or "yolov3_mobilenet_v3_small") => new PaddleMobileNetV3(classifier: false),
        (WeightFormat.Paddle, "mobilenet_v3_large" or "mobilenet_v3_small") => new PaddleMobileNetV3(classifier: true),
        _ => null,
    };

    /// <summary>
    /// Reads a mapping file: <c>rules:</c>, a list of <c>{from: REGEX, to: NAME}</c> (the first rule whose regex
    /// matches wins; <c>to</c> is the whole Slim name and may use the regex's groups, $1 …; <c>to: null</c> with <c>why:</c> drops the tensor; <c>transpose: true</c>
    /// turns a 2-D weight), and optionally <c>mean:</c>/<c>std:</c>, the normalization the weights were trained with.
    /// </summary>
    public static WeightMap FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"--map: mapping file not found: {path}", path);
        MapFile file;
        try
        {
            file = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build()
                .Deserialize<MapFile>(File.ReadAllText(path)) ?? new MapFile();
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new InvalidDataException($"{path}:{e.Start.Line}: {e.InnerException?.Message ?? e.Message} (a mapping file has rules: [{{from: REGEX, to: NAME}}, …])", e);
        }
        if (file.Rules is not { Count: > 0 }) throw new InvalidDataException($"{path}: no rules; a mapping file has rules: [{{from: REGEX, to: NAME}}, …]");
        var rules = new List<(Regex, string?, string?, bool)>();
        for (int i = 0; i < file.Rules.Count; i++)
        {
            var r = file.Rules[i];
            if (string.IsNullOrEmpty(r.From)) throw new InvalidDataException($"{path}: rules[{i}] has no 'from' regex");
            Regex regex;
            try { regex = new Regex(r.From, RegexOptions.CultureInvariant); }
            catch (ArgumentException e) { throw new InvalidDataException($"{path}: rules[{i}].from '{r.From}' is not a regex: {e.Message}"); }
            rules.Add((regex, r.To, r.Why, r.Transpose));
        }
        if ((file.Mean is null) != (file.Std is null) || file.Mean is { Count: not 3 } || file.Std is { Count: not 3 } || file.Std?.Any(v => !(v > 0)) == true)
            throw new InvalidDataException($"{path}: give both mean and std, three values each, std above 0 (RGB, for pixels on [0, 1])");
        return new RuleMap(Path.GetFileName(path), rules, file.Mean is null ? null : (file.Mean.ToArray(), file.Std!.ToArray()));
    }

    private sealed class MapFile
    {
        public List<RuleEntry>? Rules { get; set; }
        public List<float>? Mean { get; set; }
        public List<float>? Std { get; set; }
    }

    private sealed class RuleEntry
    {
        public string? From { get; set; }
        public string? To { get; set; }
        public string? Why { get; set; }
        public bool Transpose { get; set; }
    }

    private sealed class RuleMap(string name, List<(Regex From, string? To, string? Why, bool Transpose)> rules, (float[], float[])? norm) : WeightMap
    {
        public override string Name => name;
        public override (float[] Mean, float[] Std)? Normalization => norm;

        public override Mapped Map(string source)
        {
            foreach (var (from, to, why, transpose) in rules)
            {
                var m = from.Match(source);
                if (!m.Success) continue;
                return to is null ? Mapped.Skip(why ?? $"dropped by the rule '{from}'") : Mapped.To(m.Result(to), transpose);
            }
            return Mapped.None;
        }
    }

    /// <summary>A batch norm's tensors: torch's weight/bias/running_mean/running_var are Slim's scale/offset/mean/var.</summary>
    protected static Mapped BatchNorm(string module, string tensor) => tensor switch
    {
        "weight" => Mapped.To(module + ".bn.scale"),
        "bias" => Mapped.To(module + ".bn.offset"),
        "running_mean" => Mapped.To(module + ".bn.mean"),
        "running_var" => Mapped.To(module + ".bn.var"),
        "num_batches_tracked" => Mapped.Skip("batch-norm step counter (Slim's batch norms use a fixed momentum)"),
        _ => Mapped.None,
    };

    /// <summary>Paddle's batch norm: weight/bias/_mean/_variance.</summary>
    protected static Mapped PaddleBatchNorm(string module, string tensor) => tensor switch
    {
        "weight" => Mapped.To(module + ".bn.scale"),
        "bias" => Mapped.To(module + ".bn.offset"),
        "_mean" => Mapped.To(module + ".bn.mean"),
        "_variance" => Mapped.To(module + ".bn.var"),
        _ => Mapped.None,
    };

    protected static Mapped Conv(string module, string tensor) => tensor == "weight" ? Mapped.To(module + ".conv.weights") : Mapped.None;
}

/// <summary>torchvision.models.mobilenet_v2 onto Slim's mobilenet_v2 (the same network; torchvision's dropout is training-only).</summary>
internal sealed partial class TorchvisionMobileNetV2 : WeightMap
{
    public override string Name => "torchvision mobilenet_v2";
    public override ModelLayout? Layout => ModelLayout.Torchvision;

    public override Mapped Map(string source)
    {
        if (source == "classifier.1.weight") return Mapped.To("fc.weights");
        if (source == "classifier.1.bias") return Mapped.To("fc.bias");
        var m = Feature().Match(source);
        if (!m.Success) return Mapped.None;
        int k = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var rest = m.Groups[2].Value;
        if (!rest.Contains('.')) return Mapped.None;
        var tensor = rest[(rest.LastIndexOf('.') + 1)..];
        var path = rest[..rest.LastIndexOf('.')];
        if (k == 0 || k == 18)
        {
            var module = k == 0 ? "backbone.conv1" : "backbone.conv_last";
            return path == "0" ? Conv(module, tensor) : path == "1" ? BatchNorm(module, tensor) : Mapped.None;
        }
        var block = $"backbone.blocks.{k - 1}";
        // Block 1 has no expansion: conv.0 is the depthwise ConvBNReLU, conv.1 the projection, conv.2 its BN.
        var parts = k == 1
            ? new Dictionary<string, (string, bool)> { ["conv.0.0"] = ("dwise", true), ["conv.0.1"] = ("dwise", false), ["conv.1"] = ("linear", true), ["conv.2"] = ("linear", false) }
            : new Dictionary<string, (string, bool)>
            {
                ["conv.0.0"] = ("expand", true), ["conv.0.1"] = ("expand", false), ["conv.1.0"] = ("dwise", true), ["conv.1.1"] = ("dwise", false),
                ["conv.2"] = ("linear", true), ["conv.3"] = ("linear", false),
            };
        if (!parts.TryGetValue(path, out var p)) return Mapped.None;
        return p.Item2 ? Conv($"{block}.{p.Item1}", tensor) : BatchNorm($"{block}.{p.Item1}", tensor);
    }

    [GeneratedRegex(@"^features\.(\d+)\.(.+)$")]
    private static partial Regex Feature();
}

/// <summary>torchvision.models.resnet18/34/50 onto Slim's ResNets (v1.5: stride on the 3×3; projection shortcuts as torchvision's).</summary>
internal sealed partial class TorchvisionResNet : WeightMap
{
    public override string Name => "torchvision resnet";
    public override ModelLayout? Layout => ModelLayout.Torchvision;

    public override Mapped Map(string source)
    {
        if (source == "fc.weight") return Mapped.To("fc.weights");
        if (source == "fc.bias") return Mapped.To("fc.bias");
        if (source == "conv1.weight") return Mapped.To("backbone.conv1.conv.weights");
        if (source.StartsWith("bn1.", StringComparison.Ordinal)) return BatchNorm("backbone.conv1", source[4..]);
        var m = Layer().Match(source);
        if (!m.Success) return Mapped.None;
        int layer = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        int index = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (index > 25) return Mapped.None;
        var block = $"backbone.res{layer + 1}{(char)('a' + index)}";
        var module = m.Groups[3].Value;
        var tensor = m.Groups[4].Value;
        return module switch
        {
            "conv1" or "conv2" or "conv3" => Conv($"{block}.branch2{(char)('a' + module[^1] - '1')}", tensor),
            "bn1" or "bn2" or "bn3" => BatchNorm($"{block}.branch2{(char)('a' + module[^1] - '1')}", tensor),
            "downsample.0" => Conv($"{block}.branch1", tensor),
            "downsample.1" => BatchNorm($"{block}.branch1", tensor),
            _ => Mapped.None,
        };
    }

    [GeneratedRegex(@"^layer([1-4])\.(\d+)\.(conv[123]|bn[123]|downsample\.[01])\.(\w+)$")]
    private static partial Regex Layer();
}

/// <summary>
/// PaddleDetection's YOLOv3 on MobileNetV1 (dygraph names: backbone.conv2_1._depthwise_conv._conv.weight,
/// neck.yolo_block.0.conv_module.conv0.conv.weight, yolo_head.yolo_output.0.weight) and PaddleClas's MobileNetV1
/// (2.0: conv1._conv.weight … out.weight; later: conv.conv.weight, blocks.k.depthwise_conv.conv.weight … fc.weight).
/// Paddle's fc weight is [in, out]: transposed. At width 1.0 the detector is the same network (Paddle's neck does not
/// scale with the backbone, Slim's does).
/// </summary>
internal sealed partial class PaddleMobileNetV1 : WeightMap
{
    private static readonly string[] Blocks =
        ["conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv4_1", "conv4_2", "conv5_1", "conv5_2", "conv5_3", "conv5_4", "conv5_5", "conv5_6", "conv6"];

    private static readonly Dictionary<string, string> Module = new()
    {
        ["conv0"] = "0.0", ["conv1"] = "0.1", ["conv2"] = "1.0", ["conv3"] = "1.1", ["route"] = "2",
    };

    public override string Name => "PaddleDetection/PaddleClas MobileNetV1";
    public override ModelLayout? Layout => ModelLayout.Paddle;

    public override Mapped Map(string source)
    {
        static Mapped Unit(string module, string kind, string tensor) =>
            kind is "_conv" or "conv" ? Conv(module, tensor) : PaddleBatchNorm(module, tensor);

        var m = Backbone().Match(source);
        if (m.Success)
        {
            var unit = m.Groups[1].Value == "conv1" ? "backbone.conv1"
                : $"backbone.{m.Groups[1].Value}.{(m.Groups[2].Value == "_depthwise_conv" ? "dw" : "pw")}";
            return Unit(unit, m.Groups[3].Value, m.Groups[4].Value);
        }
        m = Legendary().Match(source);
        if (m.Success)
        {
            if (m.Groups[1].Success) return Unit("backbone.conv1", m.Groups[4].Value, m.Groups[5].Value);
            int k = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (k >= Blocks.Length) return Mapped.None;
            return Unit($"backbone.{Blocks[k]}.{(m.Groups[3].Value == "depthwise_conv" ? "dw" : "pw")}", m.Groups[4].Value, m.Groups[5].Value);
        }
        m = Neck().Match(source);
        if (m.Success)
        {
            var unit = m.Groups[2].Success ? $"{m.Groups[1].Value}.{Module[m.Groups[2].Value]}"
                : m.Groups[3].Success ? $"{m.Groups[1].Value}.tip" : m.Groups[1].Value;
            return Unit(unit, m.Groups[4].Value, m.Groups[5].Value);
        }
        m = Head().Match(source);
        if (m.Success) return Mapped.To($"yolo_output.{m.Groups[1].Value}.conv.{(m.Groups[2].Value == "weight" ? "weights" : "bias")}");
        return source switch
        {
            "out.weight" or "fc.weight" => Mapped.To("fc.weights", transpose: true),
            "out.bias" or "fc.bias" => Mapped.To("fc.bias"),
            _ => Mapped.None,
        };
    }

    [GeneratedRegex(@"^(?:backbone\.)?(conv1|conv[2-5]_[1-6]|conv6)\.(?:(_depthwise_conv|_pointwise_conv)\.)?(_conv|_batch_norm)\.(\w+)$")]
    private static partial Regex Backbone();

    [GeneratedRegex(@"^(?:backbone\.)?(?:(conv)|blocks\.(\d+)\.(depthwise_conv|pointwise_conv))\.(conv|bn)\.(\w+)$")]
    private static partial Regex Legendary();

    [GeneratedRegex(@"^neck\.(yolo_block\.[0-2]|yolo_transition\.[01])\.(?:conv_module\.(conv[0-3]|route)\.|(tip)\.)?(conv|batch_norm)\.(\w+)$")]
    private static partial Regex Neck();

    [GeneratedRegex(@"^yolo_head\.yolo_output\.([0-2])\.(weight|bias)$")]
    private static partial Regex Head();
}

/// <summary>
/// Paddle's ResNet18/34/50 (variant b: the stride on the 3×3, a single 7×7 stem), in both namings:
/// PaddleClas's legendary models (stem.0, then blocks.k.conv0/conv1[/conv2] and blocks.k.short, k counting blocks over
/// the four stages; fc is [in, out]) and PaddleDetection's (backbone.conv1.conv1, backbone.res2.res2a.branch2a … .short,
/// with conv/norm; its YOLOv3FPN neck and head as for MobileNetV1, yolov3_r34). Both project the shortcut of every
/// stage's first block, res2a's too: Paddle's layout.
/// </summary>
internal sealed partial class PaddleResNet(int depth) : WeightMap
{
    private readonly int[] _depths = depth == 18 ? [2, 2, 2, 2] : [3, 4, 6, 3];
    private readonly PaddleMobileNetV1 _yolo = new();

    public override string Name => $"PaddleClas/PaddleDetection ResNet{depth}";
    public override ModelLayout? Layout => ModelLayout.Paddle;

    public override Mapped Map(string source)
    {
        static Mapped Unit(string module, string kind, string tensor) => kind == "conv" ? Conv(module, tensor) : PaddleBatchNorm(module, tensor);
        string Branch(string part) => part switch
        {
            "conv0" or "branch2a" => "branch2a",
            "conv1" or "branch2b" => "branch2b",
            "conv2" or "branch2c" when depth >= 50 => "branch2c",
            "short" => "branch1",
            _ => "",
        };

        if (source.StartsWith("neck.", StringComparison.Ordinal) || source.StartsWith("yolo_head.", StringComparison.Ordinal)) return _yolo.Map(source);
        var m = Stem().Match(source);
        if (m.Success) return Unit("backbone.conv1", m.Groups[1].Value, m.Groups[2].Value);
        m = Block().Match(source);
        if (m.Success)
        {
            int k = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), stage = 0;
            while (stage < _depths.Length && k >= _depths[stage]) k -= _depths[stage++];
            var part = Branch(m.Groups[2].Value);
            if (stage == _depths.Length || part.Length == 0) return Mapped.None;
            return Unit($"backbone.res{stage + 2}{(char)('a' + k)}.{part}", m.Groups[3].Value, m.Groups[4].Value);
        }
        m = DetectionBlock().Match(source);
        if (m.Success)
        {
            var part = Branch(m.Groups[2].Value);
            if (part.Length == 0) return Mapped.None;
            return Unit($"backbone.{m.Groups[1].Value}.{part}", m.Groups[3].Value == "norm" ? "bn" : "conv", m.Groups[4].Value);
        }
        return source switch
        {
            "fc.weight" => Mapped.To("fc.weights", transpose: true),
            "fc.bias" => Mapped.To("fc.bias"),
            _ => Mapped.None,
        };
    }

    [GeneratedRegex(@"^(?:stem\.0|(?:backbone\.)?conv1\.conv1)\.(conv|bn|norm)\.(\w+)$")]
    private static partial Regex Stem();

    [GeneratedRegex(@"^blocks\.(\d+)\.(conv[012]|short)\.(conv|bn)\.(\w+)$")]
    private static partial Regex Block();

    [GeneratedRegex(@"^(?:backbone\.)?res[2-5]\.(res[2-5][a-f])\.(branch2[abc]|short)\.(conv|norm)\.(\w+)$")]
    private static partial Regex DetectionBlock();
}

/// <summary>
/// PaddleClas's MobileNetV2 (model_zoo/mobilenet_v2.py: conv1, then conv2 … conv8, each a _first_block and blocks
/// convN_2 …, with _expand_conv/_bottleneck_conv/_linear_conv of _conv/_batch_norm; conv9; out [in, out]). Every unit
/// expands, the first too (32 → 32): Paddle's layout.
/// </summary>
internal sealed partial class PaddleClasMobileNetV2 : WeightMap
{
    private static readonly int[] Repeats = [1, 2, 3, 4, 3, 3, 1];

    public override string Name => "PaddleClas MobileNetV2";
    public override ModelLayout? Layout => ModelLayout.Paddle;

    public override Mapped Map(string source)
    {
        static Mapped Unit(string module, string kind, string tensor) => kind == "_conv" ? Conv(module, tensor) : PaddleBatchNorm(module, tensor);
        var m = Ends().Match(source);
        if (m.Success) return Unit(m.Groups[1].Value == "conv1" ? "backbone.conv1" : "backbone.conv_last", m.Groups[2].Value, m.Groups[3].Value);
        m = Block().Match(source);
        if (m.Success)
        {
            int group = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) - 2;
            int r = m.Groups[2].Success ? int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture) - 1 : 0;
            // The repeats are named after their group: conv3.conv3_2, never conv3.conv4_2.
            if (r < 1 && m.Groups[2].Success || r >= Repeats[group] || m.Groups[2].Success && m.Groups[2].Value != "conv" + m.Groups[1].Value) return Mapped.None;
            int index = Repeats.Take(group).Sum() + r;
            var part = m.Groups[4].Value switch { "_expand_conv" => "expand", "_bottleneck_conv" => "dwise", _ => "linear" };
            return Unit($"backbone.blocks.{index}.{part}", m.Groups[5].Value, m.Groups[6].Value);
        }
        return source switch
        {
            "out.weight" => Mapped.To("fc.weights", transpose: true),
            "out.bias" => Mapped.To("fc.bias"),
            _ => Mapped.None,
        };
    }

    [GeneratedRegex(@"^(conv1|conv9)\.(_conv|_batch_norm)\.(\w+)$")]
    private static partial Regex Ends();

    [GeneratedRegex(@"^conv([2-8])\.(?:_first_block|(conv[2-8])_(\d+))\.(_expand_conv|_bottleneck_conv|_linear_conv)\.(_conv|_batch_norm)\.(\w+)$")]
    private static partial Regex Block();
}

/// <summary>
/// torchvision.models.mobilenet_v3_large/small (features.0 the stem; features.k.block.j the units, each Conv2dNormActivation
/// as .0 conv and .1 BN, SqueezeExcitation as fc1/fc2; the last features the 1×1 conv; classifier.0 and .3 the two
/// Linear layers) onto Slim's torchvision layout. torchvision's batch norms here use eps 0.001, Slim's 1e-5: the running
/// variance takes the difference, which makes the two normalize alike.
/// </summary>
internal sealed partial class TorchvisionMobileNetV3(MobileNetV3Size size) : WeightMap
{
    private const float EpsDifference = 1e-3f - 1e-5f;
    private readonly List<string[]> _parts = Parts(size);

    public override string Name => $"torchvision mobilenet_v3_{(size == MobileNetV3Size.Large ? "large" : "small")}";
    public override ModelLayout? Layout => ModelLayout.Torchvision;

    // Each unit's layers in torchvision's order: the expansion where it widens, the depthwise conv, SE, the projection.
    private static List<string[]> Parts(MobileNetV3Size size)
    {
        var list = new List<string[]>();
        int input = 16;
        foreach (var (_, expand, output, se, _, _) in MobileNetV3.Config(size))
        {
            var parts = new List<string>();
            if (expand != input) parts.Add("expand");
            parts.Add("res_conv1");
            if (se) parts.Add("se_block");
            parts.Add("linear");
            list.Add(parts.ToArray());
            input = output;
        }
        return list;
    }

    private static Mapped Unit(string module, string kind, string tensor) => kind == "0"
        ? Conv(module, tensor)
        : tensor == "running_var" ? Mapped.To(module + ".bn.var", shift: EpsDifference) : BatchNorm(module, tensor);

    public override Mapped Map(string source)
    {
        var m = Feature().Match(source);
        if (m.Success)
        {
            int k = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            return k == 0 ? Unit("backbone.conv1", m.Groups[2].Value, m.Groups[3].Value)
                : k == _parts.Count + 1 ? Unit("backbone.conv_last", m.Groups[2].Value, m.Groups[3].Value)
                : Mapped.None;
        }
        m = Block().Match(source);
        if (m.Success)
        {
            int k = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) - 1;
            int j = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (k < 0 || k >= _parts.Count || j >= _parts[k].Length) return Mapped.None;
            var block = $"backbone.blocks.{k}.{_parts[k][j]}";
            if (m.Groups[3].Value.StartsWith("fc", StringComparison.Ordinal) == (_parts[k][j] != "se_block")) return Mapped.None;
            return m.Groups[3].Value.StartsWith("fc", StringComparison.Ordinal)
                ? Mapped.To($"{block}.conv{m.Groups[3].Value[2]}.{(m.Groups[4].Value == "weight" ? "weights" : "bias")}")
                : Unit(block, m.Groups[3].Value, m.Groups[4].Value);
        }
        return source switch
        {
            "classifier.0.weight" => Mapped.To("hidden.weights"),
            "classifier.0.bias" => Mapped.To("hidden.bias"),
            "classifier.3.weight" => Mapped.To("fc.weights"),
            "classifier.3.bias" => Mapped.To("fc.bias"),
            _ => Mapped.None,
        };
    }

    [GeneratedRegex(@"^features\.(\d+)\.([01])\.(\w+)$")]
    private static partial Regex Feature();

    [GeneratedRegex(@"^features\.(\d+)\.block\.(\d+)\.([01]|fc[12])\.(\w+)$")]
    private static partial Regex Block();
}

/// <summary>
/// PaddleDetection's YOLOv3 on MobileNetV3 (backbones/mobilenet_v3.py: conv1, then conv2 … conv16 (large) or conv12
/// (small), each expand_conv, bottleneck_conv, mid_se.conv1/conv2, linear_conv; the YOLOv3FPN neck and head as for
/// MobileNetV1), and PaddleClas's MobileNetV3 (legendary models: conv, blocks.i.…, whose ImageNet weights the model
/// zoo's YOLOv3 starts from; its last_second_conv, last_conv and fc have no place in the detector, and are the head of
/// Slim's mobilenet_v3_large/small classifiers). Paddle's SE gate
/// is hardsigmoid(0.2·z + 0.5), Slim's z/6 + 0.5: the gate's conv (weight and bias) is multiplied by 1.2, which makes
/// the two equal exactly.
/// </summary>
internal sealed partial class PaddleMobileNetV3(bool classifier) : WeightMap
{
    private readonly PaddleMobileNetV1 _yolo = new();

    public override string Name => classifier ? "PaddleClas MobileNetV3" : "PaddleDetection MobileNetV3";
    public override ModelLayout? Layout => ModelLayout.Paddle;

    public override Mapped Map(string source)
    {
        if (source.StartsWith("neck.", StringComparison.Ordinal) || source.StartsWith("yolo_head.", StringComparison.Ordinal)) return _yolo.Map(source);
        bool head = source.StartsWith("last_second_conv.", StringComparison.Ordinal) || source.StartsWith("last_conv.", StringComparison.Ordinal) || source.StartsWith("fc.", StringComparison.Ordinal);
        if (head && !classifier) return Mapped.Skip("PaddleClas's classifier head (last_second_conv, last_conv, fc): a detector has none");
        if (head)
        {
            // last_second_conv is the backbone's conv_last; last_conv, a 1×1 conv on the pooled features, the hidden layer;
            // Paddle's dropout (downscale_in_infer, p 0.2) scales the hidden features by 0.8 at inference: fc's weight takes it.
            var tail = source[(source.IndexOf('.') + 1)..];
            return source[..source.IndexOf('.')] switch
            {
                "last_second_conv" => tail.StartsWith("conv.", StringComparison.Ordinal) ? Conv("backbone.conv_last", tail[5..])
                    : tail.StartsWith("bn.", StringComparison.Ordinal) ? PaddleBatchNorm("backbone.conv_last", tail[3..]) : Mapped.None,
                "last_conv" => tail == "weight" ? Mapped.To("hidden.weights", flatten: true) : Mapped.None,
                _ => tail == "weight" ? Mapped.To("fc.weights", transpose: true, scale: 0.8f) : tail == "bias" ? Mapped.To("fc.bias") : Mapped.None,
            };
        }
        var m = Stem().Match(source);
        if (m.Success) return m.Groups[1].Value == "conv" ? Conv("backbone.conv1", m.Groups[2].Value) : PaddleBatchNorm("backbone.conv1", m.Groups[2].Value);
        m = ClasStem().Match(source);
        if (m.Success) return m.Groups[1].Value == "conv" ? Conv("backbone.conv1", m.Groups[2].Value) : PaddleBatchNorm("backbone.conv1", m.Groups[2].Value);
        // PaddleClas counts blocks from 0 (blocks.i), PaddleDetection names them conv2 … (conv{i+2}).
        static int Block(Match match) => int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) - (match.Value.StartsWith("blocks.", StringComparison.Ordinal) ? 0 : 2);
        m = Unit().Match(source);
        if (m.Success)
        {
            var block = $"backbone.blocks.{Block(m)}";
            var part = m.Groups[2].Value switch { "expand_conv" => "expand", "bottleneck_conv" => "res_conv1", _ => "linear" };
            return m.Groups[3].Value == "conv" ? Conv($"{block}.{part}", m.Groups[4].Value) : PaddleBatchNorm($"{block}.{part}", m.Groups[4].Value);
        }
        m = Se().Match(source);
        if (m.Success)
        {
            var target = $"backbone.blocks.{Block(m)}.se_block.conv{m.Groups[2].Value}.{(m.Groups[3].Value == "weight" ? "weights" : "bias")}";
            return Mapped.To(target, scale: m.Groups[2].Value == "2" ? 1.2f : 1f);
        }
        return Mapped.None;
    }

    [GeneratedRegex(@"^backbone\.conv1\.(conv|bn)\.(\w+)$")]
    private static partial Regex Stem();

    [GeneratedRegex(@"^conv\.(conv|bn)\.(\w+)$")]
    private static partial Regex ClasStem();

    [GeneratedRegex(@"^(?:backbone\.conv|blocks\.)(\d+)\.(expand_conv|bottleneck_conv|linear_conv)\.(conv|bn)\.(\w+)$")]
    private static partial Regex Unit();

    [GeneratedRegex(@"^(?:backbone\.conv|blocks\.)(\d+)\.mid_se\.conv([12])\.(weight|bias)$")]
    private static partial Regex Se();
}
