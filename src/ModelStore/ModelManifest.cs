using System.Text.Json;
using System.Text.Json.Serialization;

namespace Serverless.ModelStore;

/// <summary>
/// The list of a model version's files with sizes and SHA-256, written as <c>&lt;prefix&gt;manifest.json</c> after
/// every file is uploaded, so a reader can tell a complete, intact upload from a partial or damaged one.
/// </summary>
public sealed record ModelManifest
{
    public const int CurrentFormat = 1;

    [JsonPropertyName("format")] public int Format { get; init; } = CurrentFormat;
    [JsonPropertyName("createdUtc")] public DateTimeOffset CreatedUtc { get; init; }
    [JsonPropertyName("files")] public IReadOnlyList<ModelManifestFile> Files { get; init; } = [];

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public byte[] ToUtf8Bytes() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    /// <summary>Parses and checks a manifest; throws <see cref="JsonException"/> or <see cref="FormatException"/> when it is not one.</summary>
    public static ModelManifest Parse(ReadOnlySpan<byte> utf8)
    {
        var manifest = JsonSerializer.Deserialize<ModelManifest>(utf8, Json) ?? throw new FormatException("The manifest is empty.");
        if (manifest.Format != CurrentFormat) throw new FormatException($"Unknown manifest format {manifest.Format}.");
        foreach (var f in manifest.Files)
        {
            if (string.IsNullOrEmpty(f.Name) || f.Name.StartsWith('/') || f.Name.Contains("..") || f.Size < 0
                || f.Sha256 is not { Length: 64 } || !f.Sha256.All(Uri.IsHexDigit))
            {
                throw new FormatException($"Bad manifest entry '{f.Name}'.");
            }
        }
        return manifest;
    }
}

/// <summary>One file of a <see cref="ModelManifest"/>: its path relative to the prefix, byte size, and lowercase hex SHA-256.</summary>
public sealed record ModelManifestFile(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("sha256")] string Sha256);
