using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Serverless.Inference.Generation;
using Serverless.Jobs.Models;

namespace Serverless.Jobs.Completions;

/// <summary>
/// The <c>text/event-stream</c> answer of <c>POST /api/completions</c>, generated while it is written: per prompt, one
/// <c>data: {"token": {"id", "text"}, "index"}</c> event per token, flushed at once, then the prompt's final object
/// (a <see cref="PromptResult"/>, the fields of a job's result); after the last prompt <c>data: [DONE]</c>. Owns the model lease and the time budget.
/// </summary>
/// <remarks>
/// A client that goes away cancels <c>RequestAborted</c>, which is linked into the generation: the decode loop stops
/// before its next step. Written to the response body directly (not buffered), as the Functions ASP.NET Core
/// integration and Kestrel both pass it through.
/// </remarks>
internal sealed class CompletionStream(
    CompletionsApi api, JobModelLease lease, IReadOnlyList<string> prompts, GenerationOptions options,
    CancellationTokenSource budget, CancellationToken functionCancelled) : IActionResult
{
    private static readonly byte[] Done = Encoding.UTF8.GetBytes("data: [DONE]\n\n");

    public async Task ExecuteResultAsync(ActionContext context)
    {
        var http = context.HttpContext;
        using (lease)
        using (budget)
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, http.RequestAborted, functionCancelled))
        {
            var response = http.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "text/event-stream; charset=utf-8";
            response.Headers.CacheControl = "no-store";
            // Proxies that buffer (nginx and the like) would hold the events back until the end.
            response.Headers["X-Accel-Buffering"] = "no";
            http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            var clientGone = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, functionCancelled);
            using (clientGone)
            {
                try
                {
                    await response.StartAsync(clientGone.Token).ConfigureAwait(false);
                    for (var i = 0; i < prompts.Count; i++)
                    {
                        var run = api.Start(lease.Model, prompts[i], options, stop.Token);
                        try
                        {
                            // Read until the loop ends (the budget stops the loop, whose tokens then drain); only the client
                            // going away stops the reading.
                            await foreach (var token in run.ReadAllAsync(clientGone.Token).ConfigureAwait(false))
                                await WriteEventAsync(response, new TokenEvent(new TokenPayload(token.Id, token.Text), i), clientGone.Token).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is OperationCanceledException or IOException)
                        {
                            // The client went away: stop generating before the next step, then wait for the loop to end
                            // (below): the lease must outlive it.
                            await stop.CancelAsync().ConfigureAwait(false);
                        }
                        var final = await api.EndAsync(i, run, budget, clientGone.Token).ConfigureAwait(false);
                        if (clientGone.IsCancellationRequested) return;
                        await WriteEventAsync(response, final, clientGone.Token).ConfigureAwait(false);
                        if (final.FinishReason == CompletionsApi.TimeBudget) break;
                    }
                    await response.Body.WriteAsync(Done, clientGone.Token).ConfigureAwait(false);
                    await response.Body.FlushAsync(clientGone.Token).ConfigureAwait(false);
                }
                catch (Exception e) when ((e is OperationCanceledException or IOException) && clientGone.IsCancellationRequested)
                {
                    // Nobody is listening any more.
                }
            }
        }
    }

    private static async Task WriteEventAsync(HttpResponse response, object payload, CancellationToken cancellationToken)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(payload, payload.GetType(), JobsJson.Options);
        await response.Body.WriteAsync("data: "u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync("\n\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
