namespace Slim;

/// <summary>Base of Slim's own input errors (a bad dataset, model name, ratio list …).</summary>
public class SlimException : Exception
{
    public SlimException(string message) : base(message) { }
    public SlimException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>The exported model's accuracy dropped more than the recipe accepts.</summary>
public sealed class VerificationFailedException(string message) : SlimException(message);
