using Slim.Recipes;
using Slim.Torch;

namespace Slim.Pipeline;

/// <summary>Process-wide settings a run starts with.</summary>
public static class Runtime
{
    /// <summary>
    /// Sets libtorch's thread count (Debian's libtorch starts with one OpenMP thread; 0 means
    /// every core, shared out between the <paramref name="processesOnHost"/> workers of a multi-process run)
    /// and checks the device is usable.
    /// </summary>
    public static void Configure(Recipe recipe, int processesOnHost = 1)
    {
        torch.set_num_threads(recipe.Threads > 0 ? recipe.Threads : Math.Max(1, Environment.ProcessorCount / Math.Max(1, processesOnHost)));
        var device = Device.Parse(recipe.Device);
        if (device.type == DeviceType.CUDA && !torch.cuda.is_available())
            throw new SlimException($"device '{recipe.Device}': this libtorch has no CUDA support or no GPU is visible (build against a CUDA libtorch, see README)");
    }
}
