using System.Text.Json;

namespace Slim;

/// <summary>System.Text.Json's parse errors as people read them: where (line and column, 1-based) and what.</summary>
public static class JsonErrors
{
    /// <summary>
    /// "line 3, column 7: 'x' is an invalid start of a value" (without the parser's "LineNumber: 2 | BytePositionInLine: 6"
    /// tail; the column counts bytes), or the message alone when the parser gives no position.
    /// </summary>
    public static string Describe(JsonException e)
    {
        var message = e.Message;
        foreach (var tail in new[] { " Path: ", " LineNumber: " })
        {
            int cut = message.IndexOf(tail, StringComparison.Ordinal);
            if (cut >= 0) message = message[..cut];
        }
        message = message.Trim().TrimEnd('.');
        var where = e.LineNumber is long line
            ? $"line {line + 1}{(e.BytePositionInLine is long col ? $", column {col + 1}" : "")}{(string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" ({e.Path})")}: "
            : "";
        return where + message;
    }
}
