namespace Serverless.Jobs.OpenAi;

/// <summary>Settings of the OpenAI-compatible routes (<c>/api/v1/*</c>).</summary>
public sealed class OpenAiOptions
{
    /// <summary><c>OpenAi__ApiKey</c>: one or more keys (separated by <c>,</c> or <c>;</c>, so a key can be rotated),
    /// sent as <c>Authorization: Bearer KEY</c> (OpenAI's SDKs) or <c>api-key: KEY</c> (Azure OpenAI's). Without a key
    /// every <c>/v1</c> request is refused with 401: the routes are anonymous to the Functions host, so no key would mean
    /// an open endpoint.</summary>
    public IReadOnlyList<string> ApiKeys { get; set; } = [];

    /// <summary><c>OpenAi__AllowAnonymous</c>: with no key configured, accept every request. Honoured only when the host's
    /// environment is Development (a local playground); ignored elsewhere.</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>The model id the routes serve: the model's Blob prefix without its trailing slash (<c>flan-t5-small</c>).</summary>
    public string ModelId { get; set; } = "flan-t5-small";

    /// <summary>Splits a key setting into its keys. A Key Vault reference the platform did not resolve (it then hands the
    /// app the reference's own text, e.g. when the identity may not read the secret) is no key: its text is not secret.</summary>
    public static IReadOnlyList<string> ParseKeys(string? setting) =>
        (setting ?? "").TrimStart().StartsWith("@Microsoft.KeyVault(", StringComparison.OrdinalIgnoreCase)
            ? []
            : (setting ?? "").Split([',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
