using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Serverless.Jobs.Completions;
using Serverless.Jobs.Models;

namespace Serverless.Jobs.OpenAi;

/// <summary>
/// The <c>stream: true</c> answer: OpenAI's server-sent events, generated while written. Per choice (in order): for chat
/// a first chunk whose delta carries the role, then one chunk per token with text, then one with an empty delta and the
/// <c>finish_reason</c>; for completions one chunk per token and a last with the <c>finish_reason</c>. Then, with
/// <c>stream_options.include_usage</c>, a chunk with no choices and the usage; then <c>data: [DONE]</c>.
/// Owns the model lease and the time budget, as <see cref="CompletionStream"/> does; a client that goes away stops it.
/// </summary>
internal sealed class OpenAiStream(
    CompletionsApi api, JobModelLease lease, OpenAiRoute route, string id, long created, string model, IReadOnlyList<OpenAiRun> runs,
    bool includeUsage, CancellationTokenSource budget, CancellationToken functionCancelled) : IActionResult
{
    private static readonly byte[] Done = Encoding.UTF8.GetBytes("data: [DONE]\n\n");

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
            response.Headers["X-Accel-Buffering"] = "no";
            http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            try
            {
                await response.StartAsync(clientGone.Token).ConfigureAwait(false);
                var finished = new List<OpenAiChoice>(runs.Count);
                foreach (var run in runs)
                {
                    if (route == OpenAiRoute.ChatCompletions)
                        await WriteAsync(response, w => OpenAiObjects.Chunk(w, route, id, created, model, run.Index, "assistant", "", null, includeUsage), clientGone.Token).ConfigureAwait(false);
                    var tokens = api.Start(lease.Model, run.Prompt, run.Options, stop.Token);
                    try
                    {
                        await foreach (var token in tokens.ReadAllAsync(clientGone.Token).ConfigureAwait(false))
                        {
                            if (token.Text.Length == 0) continue;
                            await WriteAsync(response, w => OpenAiObjects.Chunk(w, route, id, created, model, run.Index, null, token.Text, null, includeUsage), clientGone.Token).ConfigureAwait(false);
                        }
                    }
                    catch (Exception e) when (e is OperationCanceledException or IOException)
                    {
                        // The client went away: stop generating, and wait for the loop below (the lease must outlive it).
                        await stop.CancelAsync().ConfigureAwait(false);
                    }
                    var result = await api.EndAsync(run.Index, tokens, budget, clientGone.Token).ConfigureAwait(false);
                    if (clientGone.IsCancellationRequested) return;
                    var choice = run.Finish(result);
                    finished.Add(choice);
                    await WriteAsync(response, w => OpenAiObjects.Chunk(w, route, id, created, model, run.Index, null, route == OpenAiRoute.ChatCompletions ? null : "",
                        choice.FinishReason, includeUsage), clientGone.Token).ConfigureAwait(false);
                    if (result.FinishReason == CompletionsApi.TimeBudget) break;
                }
                if (includeUsage)
                    await WriteAsync(response, w => OpenAiObjects.UsageChunk(w, route, id, created, model, finished), clientGone.Token).ConfigureAwait(false);
                await response.Body.WriteAsync(Done, clientGone.Token).ConfigureAwait(false);
                await response.Body.FlushAsync(clientGone.Token).ConfigureAwait(false);
            }
            catch (Exception e) when ((e is OperationCanceledException or IOException) && clientGone.IsCancellationRequested)
            {
                // Nobody is listening any more.
            }
        }
    }

    private static async Task WriteAsync(HttpResponse response, Action<Utf8JsonWriter> write, CancellationToken cancellationToken)
    {
        var bytes = OpenAiJson.Serialize(write);
        await response.Body.WriteAsync("data: "u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync("\n\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
