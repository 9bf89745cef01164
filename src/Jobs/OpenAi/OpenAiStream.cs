using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Serverless.Jobs.Completions;
using Serverless.Jobs.Models;

namespace Serverless.Jobs.OpenAi;

/// <summary>
/// The <c>stream: true</c> answer: OpenAI's server-sent events. Per choice (in order): for chat a first chunk whose delta
/// carries the role, then one chunk per token with text, then one with an empty delta and the <c>finish_reason</c>; for
/// completions one chunk per token and a last with the <c>finish_reason</c>. With log-probabilities asked for, each chunk
/// carries those of its tokens (a token whose text is held back, e.g. while it could start a stop string, goes with the
/// next chunk; what is left, with the last). Then, with <c>stream_options.include_usage</c>, a chunk with no choices and
/// the usage; then <c>data: [DONE]</c>. The stream plumbing is <see cref="EventStreamResult"/>'s, as for
/// <c>/api/completions</c>.
/// </summary>
internal sealed class OpenAiStream(
    CompletionsApi api, JobModelLease lease, OpenAiRoute route, string id, long created, string model, IReadOnlyList<OpenAiRun> runs,
    bool includeUsage, CancellationTokenSource budget, CancellationToken functionCancelled) : EventStreamResult(lease, budget, functionCancelled)
{
    protected override async Task<bool> WriteEventsAsync(HttpResponse response, CancellationTokenSource stop, CancellationToken clientGone)
    {
        var chat = route == OpenAiRoute.ChatCompletions;
        var finished = new List<OpenAiChoice>(runs.Count);
        foreach (var run in runs)
        {
            if (chat)
                await WriteAsync(response, w => OpenAiObjects.Chunk(w, route, id, created, model, run.Index, "assistant", "", null, includeUsage), clientGone).ConfigureAwait(false);
            var logProbs = run.TopLogProbs is null ? null : new OpenAiLogProbs(Lease.Model.Tokenizer);
            var tokens = api.Start(Lease.Model, run.Prompt, run.Options, stop.Token, run.TopLogProbs);
            await ReadTokensAsync(tokens, token =>
            {
                logProbs?.Add(token);
                if (token.Text.Length == 0) return Task.CompletedTask;
                var carried = logProbs?.TakeNew();
                return WriteAsync(response, w => OpenAiObjects.Chunk(w, route, id, created, model, run.Index, null, token.Text, null, includeUsage, carried), clientGone);
            }, stop, clientGone).ConfigureAwait(false);
            var result = await api.EndAsync(run.Index, tokens, Budget, clientGone).ConfigureAwait(false);
            if (clientGone.IsCancellationRequested) return false;
            var choice = run.Finish(result, logProbs);
            finished.Add(choice);
            var rest = logProbs?.TakeNew() is { Count: > 0 } left ? left : null;
            await WriteAsync(response, w => OpenAiObjects.Chunk(w, route, id, created, model, run.Index, null, chat ? null : "", choice.FinishReason, includeUsage, rest),
                clientGone).ConfigureAwait(false);
            if (result.FinishReason == CompletionsApi.TimeBudget) break;
        }
        if (includeUsage)
            await WriteAsync(response, w => OpenAiObjects.UsageChunk(w, route, id, created, model, finished), clientGone).ConfigureAwait(false);
        return true;
    }

    private static Task WriteAsync(HttpResponse response, Action<Utf8JsonWriter> write, CancellationToken cancellationToken) =>
        WriteEventAsync(response, OpenAiJson.Serialize(write), cancellationToken);
}
