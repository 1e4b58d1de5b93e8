using System.Collections.Concurrent;
using System.Reflection;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Compression.Distillation;

/// <summary>
/// Runs the forward (with hooks) of any <c>Module&lt;Tensor, TResult&gt;</c> held as a plain
/// <see cref="nn.Module"/>: the distiller only needs the side effects (its hooks), not the result type.
/// </summary>
internal static class ModuleInvoker
{
    private static readonly ConcurrentDictionary<Type, MethodInfo?> Calls = new();

    public static bool CanCall(nn.Module module) => Find(module.GetType()) is not null;

    public static object Call(nn.Module module, Tensor input, string role)
    {
        var call = Find(module.GetType())
            ?? throw new DistillationException($"distillation: the {role} ({module.TypeName}) does not take one tensor as input; pass a forward function to the Distiller");
        try
        {
            return call.Invoke(module, new object[] { input })!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    private static MethodInfo? Find(Type type) => Calls.GetOrAdd(type, t =>
    {
        for (var b = t; b is not null; b = b.BaseType)
            if (b.IsGenericType && b.GetGenericTypeDefinition() == typeof(nn.Module<,>) && b.GetGenericArguments()[0].IsAssignableFrom(typeof(Tensor)))
                return b.GetMethod(nameof(nn.Module<Tensor, Tensor>.call), new[] { b.GetGenericArguments()[0] });
        return null;
    });
}
