using System.Buffers.Text;
using System.Text;

namespace Serverless.Jobs.Http;

/// <summary>The opaque <c>continuation</c> of <c>GET /api/jobs</c>: the blob listing's marker, versioned and
/// base64url-encoded so that clients pass it back unchanged rather than build one.</summary>
internal static class ContinuationToken
{
    private const string Version = "1:";

    public static string Encode(string marker) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(Version + marker));

    /// <summary>The marker, or null if <paramref name="token"/> is not one of ours.</summary>
    public static string? Decode(string token)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
            return text.StartsWith(Version, StringComparison.Ordinal) && text.Length > Version.Length ? text[Version.Length..] : null;
        }
        catch (FormatException) { return null; }
    }
}
