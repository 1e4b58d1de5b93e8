using Slim.Common;
using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// Decides which Conv2d and Linear layers are quantized (not_quant patterns, the detection
/// output) and which BatchNorm2d folds into which conv. BN pairs come from a traced forward:
/// a batch_norm whose input is a conv2d output that nothing else reads.
/// </summary>
public static class LayerSelector
{
    /// <summary>
    /// The plan for model. forward runs the model on one input batch (sample) and returns its
    /// output tensors; it is traced once in eval mode without gradients.
    /// </summary>
    public static QuantizationPlan Select(nn.Module model, QuantizationOptions options, Func<Tensor, IEnumerable<Tensor>> forward, Tensor sample)
    {
        options.Validate();
        var modules = model.named_modules().Where(m => m.name.Length > 0).ToList();
        var already = modules.FirstOrDefault(m => m.module is QuantLayer);
        if (already.module is not null)
            throw new QuantizationException($"the model is already quantized ({already.module.TypeName} at '{already.name}'): load the float checkpoint instead");
        CheckPatterns(options.NotQuant, modules.Select(m => m.name).ToList());

        var layers = modules.Where(m => m.module is Conv2d or Linear).ToList();
        var bnOf = layers.Any(l => l.module is Conv2d) ? FollowingBatchNorms(model, forward, sample) : new Dictionary<string, string>();

        var decisions = new List<QuantLayerDecision>();
        foreach (var (path, module) in layers)
        {
            bnOf.TryGetValue(path, out var bnPath);
            var pattern = options.NotQuant.FirstOrDefault(p => path.Contains(p, StringComparison.Ordinal));
            string reason;
            bool quantized = false;
            if (pattern is not null) reason = $"not_quant pattern '{pattern}'";
            else if (!options.QuantOutput && options.OutputPatterns.Any(p => path.Contains(p, StringComparison.Ordinal))) reason = "detection output";
            else
            {
                quantized = true;
                reason = QuantizationPlan.QuantizedReason;
            }
            decisions.Add(new QuantLayerDecision(path, module.TypeName, quantized, reason, bnPath));
        }
        return new QuantizationPlan(decisions);
    }

    /// <summary>Throws when a pattern is contained in no module path, listing the paths and the nearest names.</summary>
    public static void CheckPatterns(IReadOnlyList<string> patterns, IReadOnlyList<string> modulePaths)
    {
        foreach (var pattern in patterns)
        {
            if (modulePaths.Any(p => p.Contains(pattern, StringComparison.Ordinal))) continue;
            // Suggest among whole paths and their parts, since patterns usually name a scope ("se_block").
            var names = modulePaths.Concat(modulePaths.SelectMany(p => p.Split('.'))).Distinct().ToList();
            var near = Suggest.Nearest(pattern, names);
            const int shown = 60;
            string list = string.Join(", ", modulePaths.Take(shown)) + (modulePaths.Count > shown ? $" and {modulePaths.Count - shown} more" : "");
            string hint = near.Count > 0 ? $" (did you mean {string.Join(" or ", near.Select(n => $"'{n}'"))}?)" : "";
            throw new QuantizationException($"quant not_quant pattern '{pattern}' matches no module path{hint}; module paths: {list}");
        }
    }

    /// <summary>Conv module path → path of the BatchNorm2d that directly and solely consumes its output.</summary>
    public static Dictionary<string, string> FollowingBatchNorms(nn.Module model, Func<Tensor, IEnumerable<Tensor>> forward, Tensor sample)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var trace = Trace.Run(model, new[] { sample }, xs => forward(xs[0]));
            var convCalls = trace.Nodes.Where(n => n.Kind == "conv2d" && n.Module is Conv2d).ToList();
            var bnCalls = trace.Nodes.Where(n => n.Kind == "batch_norm" && n.Module is BatchNorm2d).ToList();
            var pairs = new Dictionary<string, string>();
            foreach (var conv in convCalls)
            {
                // A layer called more than once (shared weights) cannot be folded with one BN.
                if (convCalls.Count(c => ReferenceEquals(c.Module, conv.Module)) != 1) continue;
                int output = conv.Outputs[0];
                if (trace.Outputs.Contains(output)) continue;
                var consumers = trace.Consumers(output).ToList();
                if (consumers.Count != 1) continue;
                var bn = consumers[0];
                if (bn.Kind != "batch_norm" || bn.Module is not BatchNorm2d bnModule || bn.ValueOfArg(0) != output) continue;
                if (bnCalls.Count(c => ReferenceEquals(c.Module, bn.Module)) != 1) continue;
                if (bnModule.num_features != ((Conv2d)conv.Module!).out_channels) continue;
                pairs[conv.ModulePath] = bn.ModulePath;
            }
            return pairs;
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}
