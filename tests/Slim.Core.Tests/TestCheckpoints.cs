using Slim.Models;

namespace Slim.Core.Tests;

/// <summary>Loads a detector checkpoint through the task registry, as the stages do, typed for tests that call it.</summary>
internal static class TestCheckpoints
{
    public static (YoloV3 Model, string Architecture, ModelOptions Options) Load(string checkpoint)
    {
        var loaded = ModelCheckpoint.Load(checkpoint, DetectionFamily.Instance);
        return ((YoloV3)loaded.Model, loaded.Architecture, loaded.Options);
    }
}
