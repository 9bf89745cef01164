using System.Text.Json;
using System.Text.Json.Serialization;

namespace Serverless.ModelStore;

/// <summary>
/// <c>.cache.json</c> in the cache folder: what each cached file was when it was verified (blob ETag, size, SHA-256).
/// A file is trusted only when it is listed here; the record is rewritten (temp file + rename) after every file.
/// </summary>
internal sealed class CacheRecord
{
    public const string FileName = ".cache.json";

    [JsonPropertyName("manifestETag")] public string? ManifestETag { get; set; }
    [JsonPropertyName("manifest")] public ModelManifest? Manifest { get; set; }
    [JsonPropertyName("files")] public Dictionary<string, CachedFile> Files { get; set; } = new(StringComparer.Ordinal);

    public static CacheRecord Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        try
        {
            if (!File.Exists(path)) return new CacheRecord();
            var record = JsonSerializer.Deserialize<CacheRecord>(File.ReadAllBytes(path), ModelManifest.Json);
            if (record is null) return new CacheRecord();
            record.Files = new Dictionary<string, CachedFile>(record.Files ?? [], StringComparer.Ordinal);
            return record;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            // A damaged record only costs a re-download: start from nothing trusted.
            return new CacheRecord();
        }
    }

    public void Save(string directory)
    {
        var path = Path.Combine(directory, FileName);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(this, ModelManifest.Json));
        File.Move(temp, path, overwrite: true);
    }
}

/// <summary>One trusted cached file; <see cref="ModifiedUtcTicks"/> is the file's last-write time once in place.</summary>
internal sealed record CachedFile(
    [property: JsonPropertyName("etag")] string ETag,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("sha256")] string Sha256,
    [property: JsonPropertyName("modifiedUtcTicks")] long ModifiedUtcTicks = 0);
