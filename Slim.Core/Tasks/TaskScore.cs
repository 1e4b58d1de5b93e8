namespace Slim.Tasks;

/// <summary>
/// One evaluation: the task's primary metric (0-1, higher is better) that stages, reports and
/// verification compare, a one-line summary, and the detail tables a front end may print.
/// </summary>
public class TaskScore
{
    public TaskScore(double primary, string summary, IReadOnlyList<ScoreTable> tables)
    {
        Primary = primary;
        Summary = summary;
        Tables = tables;
    }

    /// <summary>The recipe's metric, 0-1.</summary>
    public double Primary { get; }

    /// <summary>e.g. "312 detections on 100 images".</summary>
    public string Summary { get; }

    /// <summary>Per-class and other detail tables.</summary>
    public IReadOnlyList<ScoreTable> Tables { get; }
}
