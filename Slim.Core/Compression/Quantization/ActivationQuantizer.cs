using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Compression.Quantization;

/// <summary>
/// A module whose input activation is fake-quantized per tensor (symmetric int8, or uint8 from zero
/// when the input is never negative, as after a ReLU): a quantized layer (<see cref="QuantLayer"/>) or a
/// quantization point on an activation (<see cref="QuantPoint"/>). The input threshold lives in buffers
/// (<c>input_absmax</c>, and the observer's <c>input_state</c>/<c>input_accum</c>), so it is saved
/// and restored with the model's checkpoints. In training mode the threshold follows
/// <see cref="MovingAverageAbsMax"/>; in eval mode it is fixed (set by training or calibration).
/// </summary>
public abstract class ActivationQuantizer : nn.Module<Tensor, Tensor>
{
    /// <summary>The buffer holding the input threshold (the |x| that maps to code 127).</summary>
    public const string AbsMaxBuffer = "input_absmax";
    /// <summary>The observer's normaliser buffer.</summary>
    public const string StateBuffer = "input_state";
    /// <summary>The observer's accumulated maxima buffer.</summary>
    public const string AccumBuffer = "input_accum";
    /// <summary>1 while no negative input has been seen (uint8 grid [0, 255]), 0 once one has (int8 grid [-128, 127], scale threshold / 127).</summary>
    public const string UnsignedBuffer = "input_unsigned";

    /// <summary>The buffers that make up the input quantizer's state.</summary>
    public static readonly IReadOnlyList<string> InputBuffers = new[] { AbsMaxBuffer, StateBuffer, AccumBuffer, UnsignedBuffer };

    /// <summary>Creates the input buffers. path is the module path, used in messages and the result.</summary>
    protected ActivationQuantizer(string typeName, string path, double observerMomentum) : base(typeName)
    {
        Path = path;
        ObserverMomentum = observerMomentum;
        register_buffer(AbsMaxBuffer, zeros(1));
        register_buffer(StateBuffer, zeros(1));
        register_buffer(AccumBuffer, zeros(1));
        register_buffer(UnsignedBuffer, ones(1));
    }

    /// <summary>The module path of this layer in the model it was made for.</summary>
    public string Path { get; }

    /// <summary>The rate of the moving-average observer (PaddleSlim's default 0.9).</summary>
    public double ObserverMomentum { get; }

    /// <summary>
    /// When false the module computes in float (input, and a layer's weight, unquantized): post-training
    /// calibration runs the folded float model this way.
    /// </summary>
    public bool QuantizationEnabled { get; set; } = true;

    /// <summary>When false, training-mode forwards leave the input threshold as it is.</summary>
    public bool ObserverEnabled { get; set; } = true;

    /// <summary>Whether an input threshold has been set (by an observer step or by calibration).</summary>
    public bool HasInputScale => GetBufferOrNull(StateBuffer)!.item<float>() > 0;

    /// <summary>The input threshold (|x| mapped to the largest code).</summary>
    public double InputThreshold => GetBufferOrNull(AbsMaxBuffer)!.item<float>();

    /// <summary>True when the input has never been negative (a ReLU output): it is quantized to uint8 [0, 255].</summary>
    public bool InputUnsigned => GetBufferOrNull(UnsignedBuffer)!.item<float>() > 0.5;

    /// <summary>The input scale: threshold / 255 for an unsigned input, threshold / 127 otherwise.</summary>
    public double InputScale => FakeQuant.ScaleOf(InputThreshold, InputUnsigned);

    /// <summary>Sets the input threshold (calibration); the observer continues from it if training follows.</summary>
    /// <param name="threshold">The |x| mapped to the largest code.</param>
    /// <param name="unsigned">The calibration data held no negative input.</param>
    public void SetInputThreshold(double threshold, bool unsigned = false)
    {
        if (!double.IsFinite(threshold) || threshold < 0)
            throw new QuantizationException($"{Path}: input threshold {threshold} is not a finite non-negative number");
        using var _ = no_grad();
        GetBufferOrNull(AbsMaxBuffer)!.fill_(threshold);
        GetBufferOrNull(StateBuffer)!.fill_(1);
        GetBufferOrNull(AccumBuffer)!.fill_(threshold);
        GetBufferOrNull(UnsignedBuffer)!.fill_(unsigned ? 1 : 0);
    }

    /// <summary>The layer's input after fake quantization (observer step first when training).</summary>
    protected Tensor QuantizeInput(Tensor x)
    {
        if (!QuantizationEnabled) return x.alias();
        if (training && ObserverEnabled)
        {
            using var _ = no_grad();
            double lo, hi;
            using (var mn = x.detach().min())
                lo = mn.item<float>();
            using (var mx = x.detach().max())
                hi = mx.item<float>();
            double m = Math.Max(hi, -lo);   // max |x| without materializing |x|
            // Once negative, always signed: a grid that switched back would clip the negative side.
            if (lo < 0) GetBufferOrNull(UnsignedBuffer)!.fill_(0);
            var state = GetBufferOrNull(StateBuffer)!;
            var accum = GetBufferOrNull(AccumBuffer)!;
            var (s, acc, t) = MovingAverageAbsMax.Update(state.item<float>(), accum.item<float>(), m, ObserverMomentum);
            state.fill_(s);
            accum.fill_(acc);
            GetBufferOrNull(AbsMaxBuffer)!.fill_(t);
        }
        else if (!HasInputScale)
        {
            throw new QuantizationException($"{Path}: the input has no quantization scale yet: run quantization-aware training steps or calibrate (quant --mode post) before evaluating");
        }
        return FakeQuant.PerTensor(x, InputScale, InputUnsigned);
    }
}
