namespace Slim.Recipes;

/// <summary>A recipe that cannot be used: names the file, line and key, and what would be right.</summary>
public sealed class RecipeException : Exception
{
    public RecipeException(string file, int line, string key, string message)
        : base(Format(file, line, key, message))
    {
        File = file;
        Line = line;
        Key = key;
    }

    public string File { get; }
    public int Line { get; }
    public string Key { get; }

    private static string Format(string file, int line, string key, string message)
    {
        var where = line > 0 ? $"{file}:{line}" : file;
        return key.Length > 0 ? $"{where}: {key}: {message}" : $"{where}: {message}";
    }
}
