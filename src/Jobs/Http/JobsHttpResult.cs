using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Serverless.Jobs.Http;

/// <summary>
/// A JSON response that writes itself: no MVC formatters or result executors are needed, so it works the same under
/// the Functions ASP.NET Core integration, a bare Kestrel host, or a test's <c>DefaultHttpContext</c>.
/// </summary>
internal sealed class JobsHttpResult(int statusCode, object body, string contentType = "application/json") : IActionResult
{
    public int StatusCode { get; } = statusCode;
    public object Body { get; } = body;
    public string ContentType { get; } = contentType;
    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);

    public JobsHttpResult WithHeader(string name, string value)
    {
        Headers[name] = value;
        return this;
    }

    public async Task ExecuteResultAsync(ActionContext context)
    {
        var response = context.HttpContext.Response;
        response.StatusCode = StatusCode;
        response.ContentType = ContentType + "; charset=utf-8";
        // JobsJson.Options writes '<' and '>' as characters: a browser must never sniff this body as HTML.
        response.Headers.XContentTypeOptions = "nosniff";
        foreach (var (name, value) in Headers) response.Headers[name] = value;
        await JsonSerializer.SerializeAsync(response.Body, Body, Body.GetType(), JobsJson.Options, context.HttpContext.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>An RFC 9457 problem: <c>type</c>, <c>title</c>, <c>status</c>, <c>detail</c> and, for invalid input,
    /// <c>errors</c> naming every bad field (<c>prompts[3]</c>, <c>parameters.top_p</c>) with its messages; for an
    /// unexpected failure, <c>correlation_id</c> to find its log; where the problem is about a job's state, <c>job_status</c>.</summary>
    public static JobsHttpResult Problem(int status, string title, string detail, IReadOnlyDictionary<string, string[]>? errors = null,
        string? correlationId = null, JobStatus? jobStatus = null) =>
        new(status, new ProblemBody(ProblemType(status), title, status, detail, errors, correlationId, jobStatus), "application/problem+json");

    private static string ProblemType(int status) => status switch
    {
        400 => "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.1",
        404 => "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.5",
        409 => "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.10",
        413 => "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.14",
        500 => "https://www.rfc-editor.org/rfc/rfc9110#section-15.6.1",
        503 => "https://www.rfc-editor.org/rfc/rfc9110#section-15.6.4",
        _ => "about:blank",
    };
}

/// <summary>An RFC 9457 problem; <c>correlation_id</c> and <c>job_status</c> (the job's status where the problem is about
/// it, e.g. the 409 of cancelling a finished job) are extension members.</summary>
internal sealed record ProblemBody(string Type, string Title, int Status, string Detail, IReadOnlyDictionary<string, string[]>? Errors,
    string? CorrelationId = null, JobStatus? JobStatus = null);
