using System.Text.Json;

namespace Serverless.Jobs.Specs;

/// <summary>
/// Finds strings and field names that are not valid Unicode text: invalid UTF-8 bytes, or a lone surrogate escape
/// such as <c>\ud800</c>. <see cref="JsonDocument.Parse(ReadOnlyMemory{byte}, JsonDocumentOptions)"/> accepts both;
/// they only throw (<see cref="InvalidOperationException"/>) when the string is read. Checking the whole document
/// first turns that into a field error instead of an exception somewhere in the middle of validation.
/// </summary>
internal static class JsonTextChecker
{
    private const string Why = "not valid Unicode text (invalid UTF-8, or a lone surrogate escape such as \\ud800)";
    public const string Problem = "Is " + Why + ".";

    /// <summary>Adds one error per bad string (under its path: <c>prompt</c>, <c>prompts[2]</c>,
    /// <c>parameters.stop_strings[0]</c>) or bad field name (under its parent's path, naming it as written).
    /// Returns false if there was any.</summary>
    public static bool Check(JsonElement root, SpecErrors errors)
    {
        var before = errors.Count;
        Walk(root, "", errors);
        return errors.Count == before;
    }

    private static void Walk(JsonElement element, string path, SpecErrors errors)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                if (!IsReadable(element)) errors.Add(path.Length == 0 ? "body" : path, Problem);
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray()) Walk(item, $"{path}[{i++}]", errors);
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        // The name cannot be decoded, so name it as it was written (escaped).
                        errors.Add(path.Length == 0 ? "body" : path, $"The field name {RawName(property)} is {Why}.");
                        continue;
                    }
                    Walk(property.Value, path.Length == 0 ? name : $"{path}.{name}", errors);
                }
                break;
        }
    }

    private static bool IsReadable(JsonElement element)
    {
        try
        {
            _ = element.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>The property's name as written in the document (escapes kept, invalid bytes shown as \xNN).</summary>
    private static string RawName(JsonProperty property)
    {
        string raw;
        try
        {
            raw = property.ToString();
        }
        catch (InvalidOperationException)
        {
            return "(with bytes that are not UTF-8)";
        }
        var end = raw.Length > 1 && raw[0] == '"' ? raw.IndexOf('"', 1) : -1;
        while (end > 0 && raw[end - 1] == '\\') end = raw.IndexOf('"', end + 1);
        return end > 0 ? raw[..(end + 1)] : "(unreadable)";
    }
}
