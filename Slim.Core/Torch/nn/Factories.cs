using Slim.Torch.Modules;

namespace Slim.Torch;

public static partial class torch
{
    public static partial class nn
    {
        public static Conv2d Conv2d(long in_channels, long out_channels, long kernel_size, long stride = 1, long padding = 0,
            long dilation = 1, long groups = 1, bool bias = true) =>
            new(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias);
        public static BatchNorm2d BatchNorm2d(long num_features, double eps = 1e-5, double momentum = 0.1) => new(num_features, eps, momentum);
        public static Linear Linear(long in_features, long out_features, bool bias = true) => new(in_features, out_features, bias);
        public static Activation ReLU() => new(ActivationKind.ReLU);
        public static Activation ReLU6() => new(ActivationKind.ReLU6);
        public static Activation LeakyReLU(double negative_slope = 0.01) => new(ActivationKind.LeakyReLU, negative_slope);
        public static Activation Hardswish() => new(ActivationKind.HardSwish);
        public static Activation Hardsigmoid() => new(ActivationKind.HardSigmoid);
        public static Activation Sigmoid() => new(ActivationKind.Sigmoid);
        public static Activation Identity() => new(ActivationKind.Identity);
        public static MaxPool2d MaxPool2d(long kernel_size, long? stride = null, long padding = 0) => new(kernel_size, stride, padding);
        public static AvgPool2d AvgPool2d(long kernel_size, long? stride = null, long padding = 0) => new(kernel_size, stride, padding);
        public static AdaptiveAvgPool2d AdaptiveAvgPool2d(long output_size) => new(output_size);
        public static Upsample Upsample(double scale_factor = 2, string mode = "nearest") => new(scale_factor, mode);
        public static Dropout Dropout(double p = 0.5) => new(p);
        public static Flatten Flatten(long start_dim = 1, long end_dim = -1) => new(start_dim, end_dim);
        public static Sequential Sequential(params Module<Tensor, Tensor>[] layers) => new(layers);
    }
}
