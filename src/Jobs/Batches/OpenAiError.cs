using Serverless.Jobs.Http;

namespace Serverless.Jobs.Batches;

/// <summary>OpenAI's error shape <c>{"error": {"message", "type", "param", "code"}}</c>, the statuses the SDKs map to their
/// exception types. (The OpenAI-compatible routes have their own; the two merge into one.)</summary>
internal static class OpenAiError
{
    public static JobsHttpResult Result(int status, string message, string? param = null, string? code = null) =>
        new(status, Body(message, status switch
        {
            400 or 413 => "invalid_request_error",
            404 => "invalid_request_error",
            409 => "invalid_request_error",
            _ => "server_error",
        }, param, code));

    public static object Body(string message, string type, string? param, string? code) =>
        new Dictionary<string, object?> { ["error"] = new Dictionary<string, object?> { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code } };
}
