using Slim.Torch;

namespace Slim.Compression.Quantization;

/// <summary>Replacing a submodule by path so that its direct parent sees the change.</summary>
internal static class ModuleSwap
{
    /// <summary>
    /// Puts value at path and returns the module that was there. The call goes to the direct
    /// parent because Module.set_submodule notifies only the module it is called on
    /// (OnChildReplaced), and a parent such as Sequential that caches its children must be the
    /// one notified.
    /// </summary>
    public static torch.nn.Module Replace(torch.nn.Module model, string path, torch.nn.Module value)
    {
        int dot = path.LastIndexOf('.');
        var parent = dot < 0 ? model : model.get_submodule(path[..dot]);
        return parent.set_submodule(dot < 0 ? path : path[(dot + 1)..], value);
    }
}
