using System.Text.RegularExpressions;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Slim.Import;

/// <summary>
/// Where one source tensor goes: a Slim state-dict name (transposed for a Paddle fc weight, multiplied by
/// <see cref="Scale"/> where the two frameworks' layers differ by a constant), or nowhere and why.
/// </summary>
public readonly record struct Mapped(string? Target, string? Skipped = null, bool Transpose = false, float Scale = 1f)
{
    public static Mapped To(string target, bool transpose = false, float scale = 1f) => new(target, null, transpose, scale);
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

    /// <summary>Maps one source name.</summary>
    public abstract Mapped Map(string source);

    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>Names of the built-in maps (for --help).</summary>
    public static IReadOnlyList<string> BuiltIn { get; } =
    [
        "torchvision mobilenet_v2 (mobilenet_v2)", "torchvision resnet18/34/50 (resnet18, resnet34, resnet50, and the backbone of yolov3_resnet34)",
        "PaddleDetection yolov3_mobilenet_v1 and PaddleClas MobileNetV1 (yolov3_mobilenet_v1, mobilenet_v1)",
        "PaddleClas ResNet50 (resnet50)",
        "PaddleDetection yolov3_mobilenet_v3_large/small, and PaddleClas MobileNetV3 as their backbone (the SE gate's slope 0.2 carried by its second conv ×1.2)",
    ];

    /// <summary>The built-in map for a Slim architecture and a source format; null when there is none (give --map).</summary>
    public static WeightMap? For(string architecture, WeightFormat format) => (format, architecture) switch
    {
        (WeightFormat.Torch, "mobilenet_v2") => new TorchvisionMobileNetV2(),
        (WeightFormat.Torch, "resnet18" or "resnet34" or "resnet50" or "yolov3_resnet34") => new TorchvisionResNet(),
        (WeightFormat.Paddle, "mobilenet_v1" or "yolov3_mobilenet_v1") => new PaddleMobileNetV1(),
        (WeightFormat.Paddle, "resnet50") => new PaddleClasResNet50(),
        (WeightFormat.Paddle, "yolov3_mobilenet_v3_large" or "yolov3_mobilenet_v3_small") => new PaddleMobileNetV3(),
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
/// PaddleClas's ResNet50 (legendary models, variant b: the stride on the 3×3, a single 7×7 stem): stem.0, then
/// blocks.k.conv0/conv1/conv2 and blocks.k.short, k counting blocks over the four stages (3, 4, 6, 3); fc is [in, out].
/// Its ResNet18/34 project the shortcut of the first block (64 → 64) where Slim's (and torchvision's) do not.
/// </summary>
internal sealed partial class PaddleClasResNet50 : WeightMap
{
    private static readonly int[] Depths = [3, 4, 6, 3];

    public override string Name => "PaddleClas ResNet50";

    public override Mapped Map(string source)
    {
        static Mapped Unit(string module, string kind, string tensor) => kind == "conv" ? Conv(module, tensor) : PaddleBatchNorm(module, tensor);

        var m = Stem().Match(source);
        if (m.Success) return Unit("backbone.conv1", m.Groups[1].Value, m.Groups[2].Value);
        m = Block().Match(source);
        if (m.Success)
        {
            int k = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), stage = 0;
            while (stage < Depths.Length && k >= Depths[stage]) k -= Depths[stage++];
            if (stage == Depths.Length) return Mapped.None;
            var block = $"backbone.res{stage + 2}{(char)('a' + k)}";
            var part = m.Groups[2].Value switch { "conv0" => "branch2a", "conv1" => "branch2b", "conv2" => "branch2c", _ => "branch1" };
            return Unit($"{block}.{part}", m.Groups[3].Value, m.Groups[4].Value);
        }
        return source switch
        {
            "fc.weight" => Mapped.To("fc.weights", transpose: true),
            "fc.bias" => Mapped.To("fc.bias"),
            _ => Mapped.None,
        };
    }

    [GeneratedRegex(@"^stem\.0\.(conv|bn)\.(\w+)$")]
    private static partial Regex Stem();

    [GeneratedRegex(@"^blocks\.(\d+)\.(conv[012]|short)\.(conv|bn)\.(\w+)$")]
    private static partial Regex Block();
}

/// <summary>
/// PaddleDetection's YOLOv3 on MobileNetV3 (backbones/mobilenet_v3.py: conv1, then conv2 … conv16 (large) or conv12
/// (small), each expand_conv, bottleneck_conv, mid_se.conv1/conv2, linear_conv; the YOLOv3FPN neck and head as for
/// MobileNetV1), and PaddleClas's MobileNetV3 (legendary models: conv, blocks.i.…, whose ImageNet weights the model
/// zoo's YOLOv3 starts from; its last_second_conv, last_conv and fc have no place in the detector). Paddle's SE gate
/// is hardsigmoid(0.2·z + 0.5), Slim's z/6 + 0.5: the gate's conv (weight and bias) is multiplied by 1.2, which makes
/// the two equal exactly.
/// </summary>
internal sealed partial class PaddleMobileNetV3 : WeightMap
{
    private readonly PaddleMobileNetV1 _yolo = new();

    public override string Name => "PaddleDetection MobileNetV3";

    public override Mapped Map(string source)
    {
        if (source.StartsWith("neck.", StringComparison.Ordinal) || source.StartsWith("yolo_head.", StringComparison.Ordinal)) return _yolo.Map(source);
        if (source.StartsWith("last_second_conv.", StringComparison.Ordinal) || source.StartsWith("last_conv.", StringComparison.Ordinal) || source.StartsWith("fc.", StringComparison.Ordinal))
            return Mapped.Skip("PaddleClas's classifier head (last_second_conv, last_conv, fc): a detector has none");
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
