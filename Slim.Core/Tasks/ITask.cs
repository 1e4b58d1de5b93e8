using Slim.Data;
using Slim.Export;
using Slim.Models;
using Slim.Recipes;
using Slim.Torch;
using Slim.Training;

namespace Slim.Tasks;

/// <summary>
/// One model family bound to a recipe's data: everything the pipeline needs that differs between
/// detectors, classifiers and the families still to come. The runner, every stage and every verb
/// talk to this interface only; <see cref="TaskFamily"/> holds the parts that need no data.
/// </summary>
public interface ITask
{
    /// <summary>The family (model factory, forward, export, defaults).</summary>
    TaskFamily Family { get; }

    /// <summary>The recipe the task was made from.</summary>
    Recipe Recipe { get; }

    /// <summary>The primary metric's name as reports print it ("VOC mAP@0.5", "top-1 accuracy").</summary>
    string MetricName { get; }

    /// <summary>Classes the model predicts.</summary>
    int NumClasses { get; }

    /// <summary>Class names by label.</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>Square network input side in pixels.</summary>
    int InputSize { get; }

    /// <summary>Per-channel normalization mean the loaders apply (exported as metadata).</summary>
    IReadOnlyList<float> Mean { get; }

    /// <summary>Per-channel normalization standard deviation the loaders apply.</summary>
    IReadOnlyList<float> Std { get; }

    /// <summary>Images the metric is computed on.</summary>
    int ValImageCount { get; }

    /// <summary>Images in the training set (what calibration and batches draw from).</summary>
    int TrainImageCount { get; }

    /// <summary>Where the training data comes from, for messages.</summary>
    string TrainSource { get; }

    /// <summary>One line per split on the data (images, objects or examples per class, sizes), said before training starts.</summary>
    IReadOnlyList<string> DataSummary();

    /// <summary>The recipe's (or <paramref name="model"/>'s) model options with the dataset's class and channel counts.</summary>
    ModelOptions ModelOptions(ModelSection? model = null);

    /// <summary>A freshly initialised model of the recipe's (or <paramref name="model"/>'s) architecture, seeded by the recipe.</summary>
    torch.nn.Module CreateModel(ModelSection? model = null);

    /// <summary>Checkpoint metadata that rebuilds the model (architecture, options, class names).</summary>
    Dictionary<string, string> Metadata(string architecture, ModelOptions options);

    /// <summary>
    /// Training batches from a given iteration on; batch i depends only on the seed, the offset and i (exact resume).
    /// With a <paramref name="shard"/> each batch holds only that share of it (data-parallel training).
    /// </summary>
    Func<long, IEnumerable<IImageBatch>> TrainBatches(int batchSize, int seedOffset = 0, DataShard? shard = null);

    /// <summary>The training loss of <paramref name="model"/> on a batch (runs the model), with named parts.</summary>
    Func<IImageBatch, LossParts> Loss(torch.nn.Module model);

    /// <summary>The metric of a model in libtorch on the validation data (eval mode is the caller's).</summary>
    TaskScore Evaluate(torch.nn.Module model);

    /// <summary>The metric of an exported model in ONNX Runtime on the same data.</summary>
    TaskScore EvaluateOnnx(string onnxPath, int threads);

    /// <summary>The inputs ONNX Runtime needs to run an exported model on <paramref name="images"/> (latency runs).</summary>
    IReadOnlyDictionary<string, OrtTensor> OnnxInputs(string onnxPath, Tensor images);

    /// <summary>
    /// Up to <paramref name="batches"/> full batches of training images in evaluation transforms, for
    /// post-training calibration; each tensor is released when the enumeration moves on.
    /// </summary>
    IEnumerable<Tensor> CalibrationImages(int batches, int batchSize, Action<string>? log = null);

    /// <summary>One validation image as a batch of 1 (tracing, dry runs, latency).</summary>
    Tensor SampleInput();

    /// <summary>The same task evaluated on the first <paramref name="images"/> validation images only (sensitivity analysis).</summary>
    ITask WithValidationLimit(int images);

    /// <summary>
    /// The same task with its loaders normalizing by <paramref name="mean"/> and <paramref name="std"/> (per channel, of
    /// pixels in [0, 1]): to score a model trained on other statistics, such as a teacher, as it was trained.
    /// </summary>
    ITask WithNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std);
}
