using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Serverless.Jobs.Http;

/// <summary>
/// A JSON request body, read the same way by every API that takes one: at most a size limit (a larger body is a
/// <c>413</c> without reading it all), not empty, and JSON (which also rejects invalid UTF-8) — each refusal a
/// problem+json naming <c>body</c>. Holds the bytes (the idempotent submit hashes them) and the parsed document.
/// </summary>
internal sealed class JsonRequestBody : IDisposable
{
    private JsonRequestBody(byte[] bytes, JsonDocument document)
    {
        Bytes = bytes;
        Document = document;
    }

    public byte[] Bytes { get; }

    public JsonDocument Document { get; }

    /// <param name="maxBytes">The largest body accepted.</param>
    /// <param name="instead">What to do with larger work, the last sentence of the 413's detail; empty for none.</param>
    /// <param name="invalid">The calling API's 400 for field errors (its title and detail).</param>
    /// <returns>The body, or the answer refusing it.</returns>
    public static async Task<(JsonRequestBody? Body, JobsHttpResult? Refusal)> ReadAsync(HttpRequest request, int maxBytes, string instead,
        Func<IReadOnlyDictionary<string, string[]>, JobsHttpResult> invalid, CancellationToken cancellationToken)
    {
        var bytes = await RequestBody.ReadAsync(request, maxBytes, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            var detail = $"The request body is larger than {maxBytes} bytes." + (instead.Length > 0 ? " " + instead : "");
            return (null, JobsHttpResult.Problem(413, "Request body too large", detail,
                new Dictionary<string, string[]> { ["body"] = [$"Must be at most {maxBytes} bytes."] }));
        }

        if (bytes.Length == 0)
            return (null, invalid(new Dictionary<string, string[]> { ["body"] = ["Required: a JSON object such as {\"prompt\": \"...\"}."] }));

        try
        {
            return (new JsonRequestBody(bytes, JsonDocument.Parse(bytes)), null);
        }
        catch (JsonException e)
        {
            return (null, invalid(new Dictionary<string, string[]> { ["body"] = [$"Malformed JSON: {e.Message}"] }));
        }
    }

    public void Dispose() => Document.Dispose();
}
