using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Serverless.Jobs.Playground;

/// <summary>
/// An HTML page that writes itself (as <see cref="Http.JobsHttpResult"/> does for JSON: no MVC executors needed), with a
/// Content-Security-Policy that lets it run only its own nonce-marked script and style and talk only to its own origin:
/// the browser itself then enforces that the page loads nothing from elsewhere.
/// </summary>
internal sealed class HtmlResult(string html, string nonce) : IActionResult
{
    public string Html { get; } = html;

    public string ContentSecurityPolicy { get; } =
        $"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; img-src data:; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public async Task ExecuteResultAsync(ActionContext context)
    {
        var response = context.HttpContext.Response;
        var bytes = Encoding.UTF8.GetBytes(Html);
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/html; charset=utf-8";
        response.ContentLength = bytes.Length;
        response.Headers.CacheControl = "no-store";
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        await response.Body.WriteAsync(bytes, context.HttpContext.RequestAborted).ConfigureAwait(false);
    }
}
