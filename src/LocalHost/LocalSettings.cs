using System.Text.Json;

namespace Serverless.LocalHost;

/// <summary>
/// The app settings a Functions host would see locally: the <c>Values</c> of <c>local.settings.json</c>, with the
/// defaults of <c>local.settings.sample.json</c> under them. Names use the Functions convention (<c>Model__Container</c>)
/// and become configuration keys (<c>Model:Container</c>), as environment variables do.
/// </summary>
internal static class LocalSettings
{
    public const string SampleFileName = "local.settings.sample.json";
    public const string FileName = "local.settings.json";

    /// <summary>Where <c>local.settings.json</c> is looked for, first match wins: the working directory, the Functions
    /// project (so <c>func start</c> and this host share one file), then beside this host.</summary>
    public static IEnumerable<string> Candidates(string workingDirectory) =>
    [
        Path.Combine(workingDirectory, FileName),
        Path.Combine(workingDirectory, "src", "Functions", FileName),
        Path.Combine(AppContext.BaseDirectory, FileName),
    ];

    public static IReadOnlyDictionary<string, string?> ReadValues(string path)
    {
        using var stream = File.OpenRead(path);
        using var document = JsonDocument.Parse(stream, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (document.RootElement.TryGetProperty("Values", out var section) && section.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in section.EnumerateObject())
            {
                values[property.Name.Replace("__", ":", StringComparison.Ordinal)] =
                    property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : property.Value.GetRawText();
            }
        }
        return values;
    }
}
