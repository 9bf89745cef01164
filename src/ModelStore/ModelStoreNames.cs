namespace Serverless.ModelStore;

/// <summary>
/// What a model container name and a model prefix may be. Checked before any request: a prefix such as
/// <c>../other/</c> becomes part of a blob URL, where <c>..</c> is resolved and the request lands in another container.
/// </summary>
public static class ModelStoreNames
{
    /// <summary>The longest prefix accepted; blob names may be 1024 characters, and the file names go after it.</summary>
    public const int MaxPrefixLength = 512;

    private const string ContainerRule =
        "a container name is 3-63 characters of lowercase letters, digits and hyphens, starts with a letter or digit, " +
        "and has no two hyphens in a row (e.g. models)";

    // Keep "512" equal to MaxPrefixLength (a const string cannot interpolate it).
    private const string PrefixRule =
        "a prefix is empty or '/'-separated folder names ending in an optional '/', e.g. flan-t5-small/ or flan-t5-small/v2/: " +
        "no leading '/', no '.' or '..' folders, no empty folder (//), no backslash or control characters, at most 512 characters";

    /// <summary>Why <paramref name="name"/> is not a valid blob container name (Azure's rules), or null when it is.</summary>
    public static string? ContainerNameError(string? name)
    {
        if (string.IsNullOrEmpty(name)) return $"The container name is empty: {ContainerRule}.";
        var problem =
            name.Length is < 3 or > 63 ? $"it has {name.Length} characters"
            : name.FirstOrDefault(c => c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')) is var bad and not '\0'
                ? $"'{bad}' is not allowed" + (char.IsUpper(bad) ? " (uppercase)" : "")
            : name[0] == '-' ? "it starts with a hyphen"
            : name.Contains("--", StringComparison.Ordinal) ? "it has two hyphens in a row"
            : name[^1] == '-' ? "it ends with a hyphen"
            : null;
        return problem is null ? null : $"The container name '{name}' is not valid: {problem}; {ContainerRule}.";
    }

    /// <summary>Why <paramref name="prefix"/> is not a safe model prefix, or null when it is.</summary>
    public static string? PrefixError(string? prefix)
    {
        if (string.IsNullOrEmpty(prefix)) return null;
        var problem =
            prefix.Length > MaxPrefixLength ? $"it has {prefix.Length} characters"
            : prefix.Contains('\\') ? "it contains a backslash"
            : prefix.Any(char.IsControl) ? "it contains a control character"
            : prefix[0] == '/' ? "it starts with '/'"
            : null;
        if (problem is null)
        {
            var segments = (prefix.EndsWith('/') ? prefix[..^1] : prefix).Split('/');
            problem = segments.Any(s => s.Length == 0) ? "it has an empty folder name (//)"
                : segments.FirstOrDefault(s => s is "." or "..") is { } dots ? $"it has a '{dots}' folder"
                : segments.Any(s => s.Trim().Length == 0 || s != s.TrimEnd('.')) ? "a folder name is blank or ends with '.'"
                : null;
        }
        return problem is null ? null : $"The model prefix '{prefix}' is not valid: {problem}; {PrefixRule}.";
    }

    /// <summary>Throws <see cref="ArgumentException"/> with <see cref="ContainerNameError"/>'s reason.</summary>
    public static void ThrowIfInvalidContainer(string? name, string paramName)
    {
        if (ContainerNameError(name) is { } error) throw new ArgumentException(error, paramName);
    }

    /// <summary>Throws <see cref="ArgumentException"/> with <see cref="PrefixError"/>'s reason.</summary>
    public static void ThrowIfInvalidPrefix(string? prefix, string paramName)
    {
        if (PrefixError(prefix) is { } error) throw new ArgumentException(error, paramName);
    }
}
