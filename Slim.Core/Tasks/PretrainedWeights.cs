using Slim.Import;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;

namespace Slim.Tasks;

/// <summary>
/// A recipe's <c>model.pretrained</c>: weights to start training from, matched by name into the recipe's model. A Slim
/// checkpoint maps name for name; a PyTorch or Paddle file goes through its built-in map (<see cref="WeightMap.For"/>).
/// </summary>
public static class PretrainedWeights
{
    /// <summary>
    /// Matches the weights onto <paramref name="model"/> and, with <paramref name="apply"/>, copies them in. Without it,
    /// this is the pre-flight: the file is read and every shape checked, nothing changes.
    /// </summary>
    /// <exception cref="SlimException">The file is missing, of another architecture without backbone_only, or does not fit.</exception>
    public static ImportReport Apply(ModelSection section, torch.nn.Module model, bool apply = true)
    {
        var path = section.Pretrained ?? throw new ArgumentException("model.pretrained is not set", nameof(section));
        if (!File.Exists(path)) throw new SlimException($"model.pretrained: {path} does not exist; give a Slim checkpoint (slim import writes one) or a torch.save/.pdparams file");
        var only = section.PretrainedBackboneOnly ? "backbone." : null;
        try
        {
            if (IsSlimCheckpoint(path))
            {
                var meta = Checkpoint.ReadMetadata(path);
                if (meta.TryGetValue(ModelOptions.MetadataPrefix + "architecture", out var arch) && arch != section.Name && only is null)
                    throw new SlimException($"model.pretrained: {path} holds a {arch} model, not the recipe's {section.Name}; " +
                                            "set model.pretrained_backbone_only: true to take its backbone");
                return WeightImporter.Import(model, SlimTensors(path), new SameNames(), only, apply);
            }
            var format = PickledWeights.Detect(path);
            var map = WeightMap.For(section.Name, format)
                ?? throw new SlimException($"model.pretrained: no built-in map from {format} weights to {section.Name}; convert the file with slim import --map FILE and name the checkpoint it writes");
            return WeightImporter.Import(model, PickledWeights.Read(path, format), map, only, apply);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or CheckpointException)
        {
            var message = e.Message.StartsWith(path, StringComparison.Ordinal) ? e.Message[path.Length..].TrimStart(':', ' ') : e.Message;
            throw new SlimException($"model.pretrained: {path}: {message}{(message.Contains("get no value", StringComparison.Ordinal) && only is null ? "; set model.pretrained_backbone_only: true to take only the backbone" : "")}", e);
        }
    }

    /// <summary>
    /// The input normalization the model's starting weights were trained with (RGB mean and std on [0, 1] pixels):
    /// model.checkpoint's <c>dataset.mean</c>/<c>dataset.std</c> when it records them (a model trained on, pruned or
    /// quantized must see the inputs it learned on), else model.pretrained's: a Slim checkpoint's, or the built-in
    /// map's (ImageNet's); null when not known or the file is not there (the pre-flight says that).
    /// </summary>
    public static (float[] Mean, float[] Std)? Normalization(ModelSection section)
    {
        if (CheckpointNormalization(section.Checkpoint) is { } own) return own;
        if (section.Pretrained is not { } path || !File.Exists(path)) return null;
        if (IsSlimCheckpoint(path)) return CheckpointNormalization(path);
        try
        {
            return WeightMap.For(section.Name, PickledWeights.Detect(path))?.Normalization;
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    /// <summary>A Slim checkpoint's recorded normalization (dataset.mean/std); null when the file is absent, not a Slim checkpoint or records none.</summary>
    public static (float[] Mean, float[] Std)? CheckpointNormalization(string? path)
    {
        if (path is null || !File.Exists(path) || !IsSlimCheckpoint(path)) return null;
        var meta = Checkpoint.ReadMetadata(path);
        if (!meta.TryGetValue(ExportModelInfo.MeanKey, out _) || !meta.TryGetValue(ExportModelInfo.StdKey, out _)) return null;
        try
        {
            var info = ExportModelInfo.FromMetadata(meta, "");
            return info.Mean is { } mean && info.Std is { } std ? (mean.ToArray(), std.ToArray()) : null;
        }
        catch (SlimException)
        {
            return null; // no usable input size: not a model Slim can rebuild, the pre-flight says so
        }
    }

    /// <summary>
    /// The form of the architecture the section's model.checkpoint or model.pretrained fits: a Slim checkpoint's
    /// <c>model.layout</c>, or the built-in map's (torchvision's for PyTorch files, Paddle's for .pdparams); null when
    /// neither is given, readable or says (the model is then built in the architecture's default form).
    /// </summary>
    public static ModelLayout? Layout(ModelSection section)
    {
        if ((section.Checkpoint ?? section.Pretrained) is not { } path || !File.Exists(path)) return null;
        try
        {
            if (IsSlimCheckpoint(path))
                return Checkpoint.ReadMetadata(path).TryGetValue(ModelOptions.MetadataPrefix + "layout", out var text) ? ModelOptions.ParseLayout(text) : null;
            return section.Checkpoint is null ? WeightMap.For(section.Name, PickledWeights.Detect(path))?.Layout : null;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or CheckpointException)
        {
            return null; // the pre-flight reports the file
        }
    }

    /// <summary>The line that says a task normalizes with the statistics of its checkpoint or pretrained weights.</summary>
    public static string DescribeNormalization(ModelSection section, IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        static string Values(IReadOnlyList<float> v) => string.Join(", ", v.Select(x => x.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)));
        string source = CheckpointNormalization(section.Checkpoint) is not null
            ? $"the checkpoint ({section.Checkpoint}) was trained with"
            : $"of the pretrained weights ({section.Pretrained})";
        return $"normalization {source}: mean {Values(mean)}, std {Values(std)}";
    }

    private static bool IsSlimCheckpoint(string path)
    {
        using var f = File.OpenRead(path);
        var head = new byte[8];
        return f.Read(head) == 8 && System.Text.Encoding.ASCII.GetString(head) == "SLIMCKPT";
    }

    // A Slim checkpoint's model tensors ("model." prefixed in a trainer's checkpoint) as source tensors.
    private static List<SourceTensor> SlimTensors(string path)
    {
        var (tensors, _) = Checkpoint.Load(path);
        try
        {
            bool prefixed = tensors.Keys.Any(k => k.StartsWith("model.", StringComparison.Ordinal));
            return tensors.Where(kv => !prefixed || kv.Key.StartsWith("model.", StringComparison.Ordinal))
                .Where(kv => kv.Value.dtype == ScalarType.Float32)
                .Select(kv => new SourceTensor(prefixed ? kv.Key["model.".Length..] : kv.Key, kv.Value.shape, kv.Value.data<float>(), "float32"))
                .ToList();
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private sealed class SameNames : WeightMap
    {
        public override string Name => "Slim checkpoint";
        public override (float[] Mean, float[] Std)? Normalization => null;
        public override Mapped Map(string source) => Mapped.To(source);
    }
}
