using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Serverless.Jobs.OpenAi;

/// <summary>
/// The key check of every <c>/v1</c> route (models, completions, chat, Files, Batches), which are anonymous to the Functions host (it only knows
/// <c>x-functions-key</c>/<c>?code=</c>, which the OpenAI SDKs do not send): <c>Authorization: Bearer KEY</c> or
/// <c>api-key: KEY</c> against <see cref="OpenAiOptions.ApiKeys"/>, compared in constant time (over SHA-256 digests, so
/// not even the length leaks). Keys never reach a log or an error message.
/// </summary>
internal sealed class ApiKeyCheck
{
    private readonly byte[][] _digests;
    private readonly bool _open;

    public ApiKeyCheck(OpenAiOptions options, bool development)
    {
        _digests = options.ApiKeys.Select(Digest).ToArray();
        _open = _digests.Length == 0 && options.AllowAnonymous && development;
    }

    /// <returns>Null when the request may proceed, else the 401.</returns>
    public OpenAiError? Check(HttpRequest request)
    {
        if (_open) return null;
        if (_digests.Length == 0)
        {
            return OpenAiError.Unauthorized(
                "This app has no API key for its /v1 routes: set the app setting OpenAi__ApiKey (in Azure a Key Vault reference; if it is set, the reference did not resolve: check the secret and the app identity's Key Vault Secrets User role), then send it as 'Authorization: Bearer <key>' or 'api-key: <key>'.");
        }
        var presented = Presented(request);
        if (presented is null)
        {
            return OpenAiError.Unauthorized(
                "No API key: send the app's key (app setting OpenAi__ApiKey) as 'Authorization: Bearer <key>' or 'api-key: <key>'.");
        }
        var digest = Digest(presented);
        var match = false;
        // Every key is compared, whatever matched before: the time does not say which key or whether one did.
        foreach (var key in _digests) match |= CryptographicOperations.FixedTimeEquals(key, digest);
        return match ? null : OpenAiError.Unauthorized("Incorrect API key provided. Use a key from the app setting OpenAi__ApiKey.");
    }

    private static string? Presented(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && authorization.Length > 7)
            return authorization[7..].Trim();
        return request.Headers["api-key"].ToString() is { Length: > 0 } apiKey ? apiKey.Trim() : null;
    }

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
