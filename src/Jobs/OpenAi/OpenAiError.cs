using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Serverless.Jobs.OpenAi;

/// <summary>
/// An error in OpenAI's shape, <c>{"error": {"message", "type", "param", "code"}}</c>, with the status the official SDKs
/// map to their exception types (400 bad request, 401 authentication, 404 not found, 413, 429 rate limit, 503).
/// </summary>
internal sealed class OpenAiError(int status, string message, string type, string? param, string? code) : IActionResult
{
    public int Status { get; } = status;
    public string Message { get; } = message;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    /// <summary>Seconds for <c>Retry-After</c> (429/503); null for none.</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>An error of any status, its type the one OpenAI gives that status.</summary>
    public static OpenAiError Of(int status, string message, string? param = null, string? code = null) =>
        new(status, message, status switch
        {
            StatusCodes.Status429TooManyRequests => "rate_limit_error",
            < 500 => "invalid_request_error",
            _ => "server_error",
        }, param, code);

    public static OpenAiError Invalid(string? param, string message, string? code = null) =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, code);

    public static OpenAiError Unauthorized(string message) =>
        new(StatusCodes.Status401Unauthorized, message, "invalid_request_error", null, "invalid_api_key");

    public static OpenAiError NotFound(string message, string? param = null, string code = "not_found") =>
        new(StatusCodes.Status404NotFound, message, "invalid_request_error", param, code);

    public static OpenAiError TooLarge(int maxBytes) =>
        new(StatusCodes.Status413RequestEntityTooLarge, $"The request body is larger than {maxBytes} bytes. Larger work belongs in a job: POST /api/jobs.",
            "invalid_request_error", null, "request_too_large");

    /// <summary>429: the SDKs retry it (after <c>Retry-After</c>) and then raise their rate-limit exception.</summary>
    public static OpenAiError RateLimited(string message, int retryAfterSeconds) =>
        new(StatusCodes.Status429TooManyRequests, message, "rate_limit_error", null, "rate_limit_exceeded") { RetryAfterSeconds = retryAfterSeconds };

    public static OpenAiError Unavailable(string message, int retryAfterSeconds) =>
        new(StatusCodes.Status503ServiceUnavailable, message, "server_error", null, "service_unavailable") { RetryAfterSeconds = retryAfterSeconds };

    /// <summary>The JSON body (also what a stream writes when it fails after its headers were sent).</summary>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("error");
            w.WriteString("message", Message);
            w.WriteString("type", Type);
            w.WriteString("param", Param);
            w.WriteString("code", Code);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    public async Task ExecuteResultAsync(ActionContext context)
    {
        var response = context.HttpContext.Response;
        response.StatusCode = Status;
        response.ContentType = "application/json; charset=utf-8";
        if (RetryAfterSeconds is { } seconds) response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (Status == StatusCodes.Status401Unauthorized) response.Headers.WWWAuthenticate = "Bearer";
        await response.Body.WriteAsync(ToJson(), context.HttpContext.RequestAborted).ConfigureAwait(false);
    }
}
