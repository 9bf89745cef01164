using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Inference.Generation;
using Serverless.Jobs.Models;
using Serverless.Jobs.OpenAi;

namespace Serverless.Jobs.Batches;

/// <summary>
/// The batch lines on the engine path the jobs use (the same <see cref="IJobModelSource"/> lease: one model in memory).
/// A line's body is read by the OpenAI-compatible routes' own reader (<see cref="OpenAiRequest"/>: the same parameters,
/// mapping and refusals, vLLM's <c>min_tokens</c> included) and answered with their objects and errors
/// (<see cref="OpenAiObjects"/>, <see cref="OpenAiError"/>); a line holds one prompt and one choice, and its token budget
/// defaults to <see cref="BatchOptions.DefaultMaxTokens"/>. Each line is a row of the instance's <see cref="Batching.PromptScheduler"/>.
/// </summary>
internal sealed class EngineBatchLineRunner(IJobModelSource models, Batching.PromptScheduler scheduler, BatchOptions options, PromptJobsOptions jobs, TimeProvider time) : IBatchLineRunner
{
    public async Task<BatchLineResult> RunAsync(string endpoint, JsonElement body, CancellationToken cancellationToken)
    {
        var route = endpoint == "/v1/chat/completions" ? OpenAiRoute.ChatCompletions : OpenAiRoute.Completions;
        OpenAiRequest request;
        try
        {
            request = OpenAiRequest.Read(route, body, modelOptional: true);
        }
        catch (OpenAiRequestException e)
        {
            return Invalid(e.ToError());
        }
        if (request.Prompts.Count != 1) return Invalid(OpenAiError.Invalid("prompt", "A batch line holds one prompt (a string, or an array of one string)."));
        if (request.N != 1) return Invalid(OpenAiError.Invalid("n", "A batch line generates one choice: n must be 1."));
        if (request.TopLogProbs is not null) return Invalid(OpenAiError.Invalid("logprobs", "Batch lines do not return log-probabilities; ask /v1 directly."));
        if (request.Stream) return Invalid(OpenAiError.Invalid("stream", "A batch line is answered in the output file: stream must be false."));

        using var lease = await models.AcquireAsync(cancellationToken).ConfigureAwait(false);
        var model = lease.Model;
        var prompt = request.Prompts[0];
        var parsed = request.OptionsOver(model.DefaultGenerationOptions, options.DefaultMaxTokens, 0);
        if (request.Check(parsed, model.Tokenizer.Encode(prompt).Length, model.ContextWindow, jobs.MaxNewTokensCeiling) is { } invalid)
            return Invalid(invalid);

        // A row of the instance's one decode loop, beside the jobs' and completions' rows.
        var result = (await scheduler.Enqueue(model, [prompt], parsed, cancellationToken)[0].ConfigureAwait(false)).Result;
        // Stopped part-way by a cancel: not an answer.
        if (result.FinishReason == FinishReason.Cancelled) throw new OperationCanceledException(cancellationToken);

        var choice = new OpenAiChoice(0, result.Text, OpenAiObjects.FinishReason(result.FinishReason == FinishReason.Length ? "length" : "stop"),
            result.InputTokens, result.OutputTokens, CountsPrompt: true);
        var id = (route == OpenAiRoute.ChatCompletions ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        var json = OpenAiJson.Serialize(w => OpenAiObjects.Completion(w, route, id, time.GetUtcNow().ToUnixTimeSeconds(), request.Model is { Length: > 0 } named ? named : lease.Info?.Prefix.TrimEnd('/') ?? "flan-t5", [choice]));
        return new BatchLineResult(200, JsonNode.Parse(json));
    }

    private static BatchLineResult Invalid(OpenAiError error) =>
        new(error.Status, JsonNode.Parse(error.ToJson()), new BatchLineError(error.Code ?? "invalid_request", error.Message));
}
