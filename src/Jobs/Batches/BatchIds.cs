using System.Globalization;

namespace Serverless.Jobs.Batches;

/// <summary>Ids of files (<c>file-…</c>) and batches (<c>batch_…</c>): a reversed-time prefix so a listing by name returns the
/// newest first, then random hex. Only these characters: an id is a blob name as it is.</summary>
internal static class BatchIds
{
    public const string BatchPrefix = "batch_";
    public const string FilePrefix = "file-";

    public static string NewBatchId(DateTimeOffset now) => BatchPrefix + Suffix(now);
    public static string NewFileId(DateTimeOffset now) => FilePrefix + Suffix(now);
    public static string NewNonce() => Guid.NewGuid().ToString("N")[..16];

    private static string Suffix(DateTimeOffset now) =>
        (DateTimeOffset.MaxValue.Ticks - now.UtcTicks).ToString("D19", CultureInfo.InvariantCulture) + Guid.NewGuid().ToString("N")[..12];

    public static bool IsBatchId(string id) => Valid(id, BatchPrefix);
    public static bool IsFileId(string id) => Valid(id, FilePrefix);

    private static bool Valid(string id, string prefix) =>
        id.Length == prefix.Length + 31 && id.StartsWith(prefix, StringComparison.Ordinal) && id.AsSpan(prefix.Length).IndexOfAnyExcept("0123456789abcdef") < 0;
}
