using Microsoft.AspNetCore.Mvc;

namespace Serverless.Jobs.Batches;

/// <summary>A response body copied from a stream (a file's content) without buffering it.</summary>
internal sealed class StreamResult(Stream content, string contentType) : IActionResult
{
    public async Task ExecuteResultAsync(ActionContext context)
    {
        await using (content.ConfigureAwait(false))
        {
            var response = context.HttpContext.Response;
            response.StatusCode = 200;
            response.ContentType = contentType;
            await content.CopyToAsync(response.Body, context.HttpContext.RequestAborted).ConfigureAwait(false);
        }
    }
}
