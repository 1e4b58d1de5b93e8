using Slim.Torch;

namespace Slim.Compression.Distillation;

/// <summary>The four unweighted terms of fine-grained YOLO distillation (scalars, with autograd to the student).</summary>
public sealed record SplitDistillTerms(Tensor Xy, Tensor Wh, Tensor Obj, Tensor Cls);
