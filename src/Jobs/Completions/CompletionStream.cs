using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Serverless.Inference.Generation;
using Serverless.Jobs.Models;

namespace Serverless.Jobs.Completions;

/// <summary>
/// The <c>text/event-stream</c> answer of <c>POST /api/completions</c>: per prompt, one
/// <c>data: {"token": {"id", "text"}, "index"}</c> event per token, flushed at once, then the prompt's final object
/// (a <see cref="PromptResult"/>, the fields of a job's result); after the last prompt <c>data: [DONE]</c>. The stream
/// plumbing (headers, flushing, the lease and budget, a client going away) is <see cref="EventStreamResult"/>'s.
/// </summary>
internal sealed class CompletionStream(
    CompletionsApi api, JobModelLease lease, IReadOnlyList<string> prompts, GenerationOptions options,
    CancellationTokenSource budget, CancellationToken functionCancelled) : EventStreamResult(lease, budget, functionCancelled)
{
    protected override async Task<bool> WriteEventsAsync(HttpResponse response, CancellationTokenSource stop, CancellationToken clientGone)
    {
        for (var i = 0; i < prompts.Count; i++)
        {
            var index = i;
            var run = api.Start(Lease.Model, prompts[i], options, stop.Token);
            await ReadTokensAsync(run, token => WriteAsync(response, new TokenEvent(new TokenPayload(token.Id, token.Text), index), clientGone), stop, clientGone)
                .ConfigureAwait(false);
            var final = await api.EndAsync(i, run, Budget, clientGone).ConfigureAwait(false);
            if (clientGone.IsCancellationRequested) return false;
            await WriteAsync(response, final, clientGone).ConfigureAwait(false);
            if (final.FinishReason == CompletionsApi.TimeBudget) break;
        }
        return true;
    }

    private static Task WriteAsync(HttpResponse response, object payload, CancellationToken cancellationToken) =>
        WriteEventAsync(response, JsonSerializer.SerializeToUtf8Bytes(payload, payload.GetType(), JobsJson.Options), cancellationToken);
}
