using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Serverless.Jobs.OpenAi;

/// <summary>A 200 JSON answer written by a <see cref="Utf8JsonWriter"/> callback: OpenAI's objects spell out their nulls
/// (<c>"logprobs": null</c>), which the app's own JSON options leave out.</summary>
internal sealed class OpenAiJson(Action<Utf8JsonWriter> write) : IActionResult
{
    public static byte[] Serialize(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return buffer.ToArray();
    }

    public async Task ExecuteResultAsync(ActionContext context)
    {
        var response = context.HttpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        await response.Body.WriteAsync(Serialize(write), context.HttpContext.RequestAborted).ConfigureAwait(false);
    }
}
