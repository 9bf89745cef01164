namespace Serverless.Jobs;

/// <summary>Job ids: <c>[A-Za-z0-9-]{1,64}</c>, so an id can never address another blob (no '/', '.', '%').</summary>
internal static class JobId
{
    public const int MaxLength = 64;

    public static bool IsValid(string? id) =>
        !string.IsNullOrEmpty(id) && id.Length <= MaxLength && id.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');

    /// <summary>A new id; version 7 GUIDs sort by creation time, which keeps blob listings in submit order.</summary>
    public static string New() => Guid.CreateVersion7().ToString("N");
}
