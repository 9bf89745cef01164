using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Serverless.Inference.Generation;
using Serverless.Jobs.Models;

namespace Serverless.Jobs.Completions;

/// <summary>
/// A <c>text/event-stream</c> answer generated while it is written (<see cref="CompletionStream"/>, the OpenAI-compatible
/// routes' stream): the headers, the <c>data: …</c> events flushed one by one, the closing <c>data: [DONE]</c>, and the
/// ownership of the model lease and the request's time budget, which outlive the function that returned the result.
/// </summary>
/// <remarks>
/// A client that goes away cancels <c>RequestAborted</c>, which is linked into the generation: the decode loop stops
/// before its next step. Written to the response body directly (not buffered), as the Functions ASP.NET Core integration
/// and Kestrel both pass it through.
/// </remarks>
internal abstract class EventStreamResult(JobModelLease lease, CancellationTokenSource budget, CancellationToken functionCancelled) : IActionResult
{
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    protected JobModelLease Lease => lease;

    protected CancellationTokenSource Budget => budget;

    public async Task ExecuteResultAsync(ActionContext context)
    {
        var http = context.HttpContext;
        using (lease)
        using (budget)
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, http.RequestAborted, functionCancelled))
        using (var clientGone = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, functionCancelled))
        {
            var response = http.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "text/event-stream; charset=utf-8";
            response.Headers.CacheControl = "no-store";
            // Proxies that buffer (nginx and the like) would hold the events back until the end.
            response.Headers["X-Accel-Buffering"] = "no";
            http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            try
            {
                await response.StartAsync(clientGone.Token).ConfigureAwait(false);
                if (!await WriteEventsAsync(response, stop, clientGone.Token).ConfigureAwait(false)) return;
                await response.Body.WriteAsync(Done, clientGone.Token).ConfigureAwait(false);
                await response.Body.FlushAsync(clientGone.Token).ConfigureAwait(false);
            }
            catch (Exception e) when ((e is OperationCanceledException or IOException) && clientGone.IsCancellationRequested)
            {
                // Nobody is listening any more.
            }
        }
    }

    /// <summary>Writes the events; false when the client went away (no <c>[DONE]</c> then).</summary>
    /// <param name="stop">Stops generating: the budget, the client or the host (cancel it when the client is gone).</param>
    /// <param name="clientGone">The client or the host went away: stop writing.</param>
    protected abstract Task<bool> WriteEventsAsync(HttpResponse response, CancellationTokenSource stop, CancellationToken clientGone);

    /// <summary>Hands each token of <paramref name="run"/> to <paramref name="write"/> until its decode loop ends (the budget
    /// stops the loop, whose tokens then drain). When the client goes away the generation is stopped before its next
    /// step; the caller then waits for the loop to end (the lease must outlive it).</summary>
    protected static async Task ReadTokensAsync(TokenStream run, Func<StreamedToken, Task> write, CancellationTokenSource stop, CancellationToken clientGone)
    {
        try
        {
            await foreach (var token in run.ReadAllAsync(clientGone).ConfigureAwait(false))
                await write(token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>One <c>data: {json}</c> event, flushed at once.</summary>
    protected static async Task WriteEventAsync(HttpResponse response, byte[] json, CancellationToken cancellationToken)
    {
        await response.Body.WriteAsync("data: "u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(json, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync("\n\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
