namespace Slim.Cli;

/// <summary>Exit codes of every slim verb.</summary>
public enum ExitCode
{
    /// <summary>The work was done.</summary>
    Ok = 0,
    /// <summary>An unexpected internal error (a bug: please report it).</summary>
    InternalError = 1,
    /// <summary>Bad command-line usage (unknown option, missing argument).</summary>
    Usage = 2,
    /// <summary>Bad input: a recipe, dataset, checkpoint or option value that cannot be used.</summary>
    InvalidInput = 3,
    /// <summary>The verification found the accuracy drop over the tolerance.</summary>
    VerificationFailed = 4,
    /// <summary>A native (libtorch/OpenCV) operation failed.</summary>
    NativeError = 5,
    /// <summary>A worker process of a multi-process run (--nproc-per-node) failed; the launcher stopped the others.</summary>
    WorkerFailed = 6,
    /// <summary>Interrupted by the user (Ctrl+C); a checkpoint was saved where possible.</summary>
    Cancelled = 130,
}
