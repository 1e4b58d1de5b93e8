namespace Slim;

/// <summary>
/// A table of figures as plain text cells, for whichever front end prints it (the CLI renders it with
/// Spectre.Console, reports write it as Markdown). Numbers are already formatted.
/// </summary>
/// <param name="Title">What the table shows, e.g. "VOC AP@0.5 (Area)".</param>
/// <param name="Columns">Header cells.</param>
/// <param name="Rows">Body rows, each with one cell per column.</param>
/// <param name="RightAligned">Indices of the columns holding numbers.</param>
public sealed record ScoreTable(string Title, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows, IReadOnlyList<int> RightAligned);
