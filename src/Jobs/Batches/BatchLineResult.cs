using System.Text.Json.Nodes;

namespace Serverless.Jobs.Batches;

/// <summary>What one request line came to: an HTTP status and the response body an OpenAI endpoint would have answered
/// (200 + the completion object, or 4xx + OpenAI's error object), or <paramref name="Error"/> when the line could not be
/// run at all. Anything but 200 goes to the batch's error file.</summary>
public sealed record BatchLineResult(int StatusCode, JsonNode? Body, BatchLineError? Error = null)
{
    public bool Succeeded => StatusCode == 200 && Error is null;
}

/// <summary>A line's error as OpenAI's output line carries it: <c>{"code", "message"}</c>.</summary>
public sealed record BatchLineError(string Code, string Message);
