using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Serverless.Jobs.Http;

/// <summary>
/// The <c>Idempotency-Key</c> request header of <c>POST /api/jobs</c> (IETF draft "The Idempotency-Key HTTP Header Field"):
/// 1–<see cref="MaxLength"/> visible ASCII characters. The job id is derived from it (<see cref="JobId"/>), so retries of
/// one submit all address the same status record and the store's create-if-absent decides which one made the job.
/// </summary>
internal static class IdempotencyKey
{
    public const string HeaderName = "Idempotency-Key";
    public const int MaxLength = 200;

    /// <summary>The key (null when the header is absent) or why it is unusable.</summary>
    public static (string? Key, string? Error) Read(HttpRequest request)
    {
        if (!request.Headers.TryGetValue(HeaderName, out var values)) return (null, null);
        if (values.Count != 1) return (null, "Send one Idempotency-Key header.");
        var key = values[0] ?? "";
        if (key.Length is 0 or > MaxLength || !key.All(c => c is >= '!' and <= '~'))
            return (null, $"Must be 1 to {MaxLength} visible ASCII characters (no spaces).");
        return (key, null);
    }

    /// <summary>"k" + the first 32 hex digits of SHA-256(key): a valid job id that differs from every generated one
    /// (those are 32 hex digits without a prefix).</summary>
    public static string JobId(string key) => "k" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..32];
}
