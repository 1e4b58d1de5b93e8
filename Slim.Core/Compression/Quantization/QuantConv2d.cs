using Slim.Torch;
using Slim.Torch.Modules;
using static Slim.Torch.torch;
using F = Slim.Torch.torch.nn.functional;

namespace Slim.Compression.Quantization;

/// <summary>
/// A Conv2d (with the BatchNorm2d that followed it, if any) computing on int8-fake-quantized
/// input and weight. The weight keeps the conv's name (<c>weights</c>/<c>weight</c>) and the bias
/// its bias name; a BN folded during training becomes the child <c>bn</c>, so its tensors read
/// <c>&lt;conv path&gt;.bn.scale</c> etc.
/// <para>
/// Training with BN, before <see cref="Freeze"/> (Jacob et al. 2018; PyTorch's fused ConvBn QAT):
/// the weight is scaled by γ/√(running σ²+ε), fake-quantized per channel, convolved; the result
/// is divided by the same factor, the conv bias added, and batch norm applied with the batch
/// statistics (which also update the running statistics). After <see cref="Freeze"/>, and always
/// in eval mode, the layer computes exactly
/// conv(fq(x), fq(w·γ/√(σ²+ε)), β + (b − μ)·γ/√(σ²+ε)) with the running statistics — the
/// computation an INT8 runtime performs.
/// </para>
/// </summary>
public sealed class QuantConv2d : QuantLayer
{
    private readonly string _weightName;
    private readonly string _biasName;
    private BatchNorm2d? _bn;

    private QuantConv2d(string path, Conv2d conv, Tensor weight, Tensor? bias, BatchNorm2d? bn, string? bnPath, double observerMomentum)
        : base("QuantConv2d", path, observerMomentum)
    {
        BatchNormPath = bnPath;
        in_channels = conv.in_channels;
        out_channels = conv.out_channels;
        kernel_size = conv.kernel_size;
        stride = conv.stride;
        padding = conv.padding;
        dilation = conv.dilation;
        groups = conv.groups;
        _weightName = conv.WeightName;
        _biasName = conv.BiasName;
        register_parameter(_weightName, weight);
        if (bias is not null) register_parameter(_biasName, bias);
        if (bn is not null)
        {
            _bn = bn;
            register_module("bn", bn);
        }
    }

    /// <summary>
    /// For quantization-aware training: copies the conv's weight and bias, and adopts bn (which
    /// the caller removes from its old place) as the child "bn" whose statistics keep training.
    /// </summary>
    public static QuantConv2d ForTraining(string path, Conv2d conv, BatchNorm2d? bn, string? bnPath = null, double observerMomentum = 0.9)
    {
        using var _ = no_grad();
        var w = conv.weight.detach().clone();
        var b = conv.bias?.detach().clone();
        return new QuantConv2d(path, conv, w, b, bn, bn is null ? null : bnPath ?? path + ".bn", observerMomentum);
    }

    /// <summary>
    /// For post-training quantization and export: the conv with bn folded in for real (running
    /// statistics), so the weight and bias are exactly what an INT8 model holds.
    /// </summary>
    public static QuantConv2d Folded(string path, Conv2d conv, BatchNorm2d? bn, string? bnPath = null, double observerMomentum = 0.9)
    {
        using var _ = no_grad();
        if (bn is null)
            return new QuantConv2d(path, conv, conv.weight.detach().clone(), conv.bias?.detach().clone(), null, null, observerMomentum);
        var (w, b) = BatchNormFolding.Fold(conv.weight, conv.bias, bn);
        return new QuantConv2d(path, conv, w, b, null, bnPath ?? "(folded batch norm)", observerMomentum);
    }

    public long in_channels { get; }
    public long out_channels { get; }
    public long kernel_size { get; }
    public long stride { get; }
    public long padding { get; }
    public long dilation { get; }
    public long groups { get; }

    /// <inheritdoc />
    public override string FloatType => "Conv2d";
    /// <inheritdoc />
    public override string WeightName => _weightName;
    /// <inheritdoc />
    public override string BiasName => _biasName;

    /// <summary>The raw (unfolded) conv weight.</summary>
    public Tensor weight => GetParameterOrNull(_weightName)!;
    /// <summary>The raw conv bias, or null.</summary>
    public Tensor? bias => GetParameterOrNull(_biasName);
    /// <summary>The batch norm still trained alongside (aware mode before <see cref="ToFolded"/>), or null.</summary>
    public BatchNorm2d? BatchNorm => _bn;

    /// <summary>The path the BatchNorm2d folded into this conv had in the float model (an identity there now), or null.</summary>
    public string? BatchNormPath { get; }

    /// <summary>Whether BN statistics are frozen: training then uses the running statistics (the eval computation).</summary>
    public bool BatchNormFrozen { get; private set; }

    /// <summary>Stops updating the BN statistics; from now on training computes what inference computes.</summary>
    public void Freeze()
    {
        BatchNormFrozen = true;
        if (_bn is not null) _bn.FreezeStatistics = true;
    }

    /// <inheritdoc />
    public override (Tensor Weight, Tensor? Bias) FoldedWeightAndBias()
    {
        if (_bn is null) return (weight.alias(), bias?.alias());
        var (w, b) = BatchNormFolding.Fold(weight, bias, _bn);
        return (w, b);
    }

    /// <summary>A copy with the BN folded in for real and the same input threshold (what is exported).</summary>
    public QuantConv2d ToFolded()
    {
        using var _ = no_grad();
        var (w, b) = FoldedWeightAndBias();
        Tensor ownW, ownB;
        using (w)
        using (b)
        {
            ownW = w.clone();
            ownB = b is null ? zeros(new[] { out_channels }, w.dtype, w.device) : b.clone();
        }
        var folded = new QuantConv2d(Path, this, ownW, ownB)
        {
            QuantizationEnabled = QuantizationEnabled,
            ObserverEnabled = ObserverEnabled,
            WeightQuantMax = WeightQuantMax,
        };
        foreach (var name in InputBuffers)
            folded.get_buffer(name).copy_(get_buffer(name));
        if (!training) folded.eval();
        return folded;
    }

    // The geometry-copying constructor used by ToFolded; takes ownership of weight and bias.
    private QuantConv2d(string path, QuantConv2d source, Tensor weight, Tensor bias)
        : base("QuantConv2d", path, source.ObserverMomentum)
    {
        BatchNormPath = source.BatchNormPath;
        in_channels = source.in_channels;
        out_channels = source.out_channels;
        kernel_size = source.kernel_size;
        stride = source.stride;
        padding = source.padding;
        dilation = source.dilation;
        groups = source.groups;
        _weightName = source._weightName;
        _biasName = source._biasName;
        register_parameter(_weightName, weight);
        register_parameter(_biasName, bias);
    }

    private Tensor Conv(Tensor x, Tensor w, Tensor? b) =>
        F.conv2d(x, w, b, new[] { stride, stride }, new[] { padding, padding }, new[] { dilation, dilation }, groups);

    private Tensor QuantizeWeight(Tensor w) => QuantizationEnabled ? FakeQuant.PerChannelWeight(w, WeightQuantMax) : w.alias();

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var x = QuantizeInput(input);
        if (_bn is not null && training && !BatchNormFrozen)
        {
            // Quantize the weight folded with the running std, then undo the scaling so batch
            // norm can normalise with the batch statistics (and keep learning them).
            using var sf = BatchNormFolding.ScaleFactor(_bn);
            using var sf4 = sf.reshape(-1, 1, 1, 1);
            using var scaled = weight.mul(sf4);
            using var wq = QuantizeWeight(scaled);
            using var y = Conv(x, wq, null);
            using var sfOut = sf.reshape(1, -1, 1, 1);
            using var unscaled = y.div(sfOut);
            using var b4 = bias?.reshape(1, -1, 1, 1);
            using var withBias = b4 is null ? unscaled.alias() : unscaled.add(b4);
            return F.batch_norm(withBias, _bn.running_mean, _bn.running_var, _bn.weight, _bn.bias, true, _bn.momentum, _bn.eps);
        }
        var (wf, bf) = FoldedWeightAndBias();
        using (wf)
        using (bf)
        using (var wq = QuantizeWeight(wf))
        using (var scales = FakeQuant.WeightScales(wf, WeightQuantMax))
        using (var b = FileBias(bf, scales))
            return Conv(x, wq, b);
    }
}
