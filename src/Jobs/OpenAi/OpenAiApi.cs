using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Serverless.Inference.Generation;
using Serverless.Jobs.Completions;
using Serverless.Jobs.Http;
using Serverless.Jobs.Models;
using Serverless.Jobs.Storage;
using Serverless.ModelStore;

namespace Serverless.Jobs.OpenAi;

/// <summary>
/// The OpenAI-compatible routes (base URL <c>https://&lt;app&gt;/api/v1</c>): <c>GET /v1/models</c>,
/// <c>GET /v1/models/{id}</c>, <c>POST /v1/completions</c>, <c>POST /v1/chat/completions</c>. Every completion runs
/// through <see cref="CompletionsApi"/> (its model lease, limits, counters and time budget), so <c>/v1</c> and
/// <c>/api/completions</c> give the same text for the same prompt and settings. Errors are OpenAI's shape
/// (<see cref="OpenAiError"/>); keys are checked here (<see cref="ApiKeyCheck"/>).
/// </summary>
public sealed class OpenAiApi
{
    private readonly CompletionsApi _completions;
    private readonly OpenAiOptions _options;
    private readonly ApiKeyCheck _keys;
    private readonly ILogger<OpenAiApi> _logger;
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    internal OpenAiApi(CompletionsApi completions, OpenAiOptions options, ApiKeyCheck keys, ILogger<OpenAiApi> logger)
    {
        _completions = completions;
        _options = options;
        _keys = keys;
        _logger = logger;
    }

    /// <summary><c>GET /v1/models</c>: the one model this app serves.</summary>
    public IActionResult ListModels(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        return new OpenAiJson(w =>
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            OpenAiObjects.Model(w, _options.ModelId, _created);
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary><c>GET /v1/models/{id}</c>: the model, or 404 for any other id.</summary>
    public IActionResult GetModel(HttpRequest request, string id)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        return id == _options.ModelId
            ? new OpenAiJson(w => OpenAiObjects.Model(w, _options.ModelId, _created))
            : UnknownModel(id, null);
    }

    /// <summary>Any other <c>/v1/…</c> address: 404 in OpenAI's shape (after the key check, so it tells nothing to strangers).</summary>
    public IActionResult NotFound(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        return OpenAiError.NotFound(
            $"Unknown route: {request.Method} {request.Path}. This app serves GET /v1/models, GET /v1/models/{{id}}, POST /v1/completions, POST /v1/chat/completions, "
            + "POST|GET /v1/files, GET|DELETE /v1/files/{id}, GET /v1/files/{id}/content, POST|GET /v1/batches, GET /v1/batches/{id} and POST /v1/batches/{id}/cancel.",
            code: "unknown_url");
    }

    /// <summary><c>POST /v1/completions</c>.</summary>
    public Task<IActionResult> CompleteAsync(HttpRequest request, CancellationToken cancellationToken) =>
        RunAsync(OpenAiRoute.Completions, request, cancellationToken);

    /// <summary><c>POST /v1/chat/completions</c>.</summary>
    public Task<IActionResult> ChatAsync(HttpRequest request, CancellationToken cancellationToken) =>
        RunAsync(OpenAiRoute.ChatCompletions, request, cancellationToken);

    private async Task<IActionResult> RunAsync(OpenAiRoute route, HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        var limits = _completions.Limits;
        var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(limits.TimeBudget);
        var owned = true;
        try
        {
            var bytes = await RequestBody.ReadAsync(request, limits.MaxRequestBodyBytes, budget.Token).ConfigureAwait(false);
            if (bytes is null) return OpenAiError.TooLarge(limits.MaxRequestBodyBytes);
            OpenAiRequest parsed;
            try
            {
                using var document = JsonDocument.Parse(bytes);
                parsed = OpenAiRequest.Read(route, document.RootElement);
            }
            catch (JsonException e)
            {
                return OpenAiError.Invalid(null, $"The request body is not valid JSON: {e.Message}");
            }
            catch (OpenAiRequestException e)
            {
                return e.ToError();
            }
            if (parsed.Model != _options.ModelId) return UnknownModel(parsed.Model, "model");
            if (_completions.IsSaturated)
            {
                return OpenAiError.RateLimited(
                    $"This instance is generating {_completions.Limits.MaxConcurrent} completions, its limit (Completions__MaxConcurrent); retry after the Retry-After seconds. Large work: POST /v1/batches.",
                    _completions.RetryAfterSeconds);
            }
            var choices = parsed.Prompts.Count * parsed.N;
            if (choices > limits.MaxPrompts)
            {
                return OpenAiError.Invalid(parsed.Prompts.Count > 1 ? "prompt" : "n",
                    $"A request runs at most {limits.MaxPrompts} completions (prompts × n = {parsed.Prompts.Count} × {parsed.N}). Larger work: POST /api/jobs.");
            }

            JobModelLease lease;
            try
            {
                lease = await _completions.AcquireModelAsync(budget.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return OpenAiError.Unavailable("The model did not load within the request's time budget; try again shortly.", _completions.RetryAfterSeconds);
            }
            catch (Exception e) when (e is ModelStoreException || StorageFailure.Is(e))
            {
                _logger.LogError(e, "Could not load the model for an OpenAI-compatible completion");
                return OpenAiError.Unavailable("The model is unavailable; try again shortly.", _completions.RetryAfterSeconds);
            }

            var runs = new List<OpenAiRun>(choices);
            try
            {
                var model = lease.Model;
                var defaults = model.DefaultGenerationOptions;
                var defaultMaxTokens = Math.Min(defaults.MaxNewTokens, limits.MaxNewTokens);
                for (var p = 0; p < parsed.Prompts.Count; p++)
                {
                    var promptTokens = model.Tokenizer.Encode(parsed.Prompts[p]).Length;
                    for (var c = 0; c < parsed.N; c++)
                    {
                        var options = parsed.OptionsOver(defaults, defaultMaxTokens, c);
                        if (c == 0 && Check(parsed, options, promptTokens, model.ContextWindow, limits) is { } invalid)
                        {
                            lease.Dispose();
                            return invalid;
                        }
                        runs.Add(new OpenAiRun(p * parsed.N + c, parsed.Prompts[p], options, c == 0, parsed.TopLogProbs));
                    }
                }
            }
            catch
            {
                lease.Dispose();
                throw;
            }

            var id = (route == OpenAiRoute.ChatCompletions ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
            var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (parsed.Stream)
            {
                owned = false;
                return new OpenAiStream(_completions, lease, route, id, created, parsed.Model, runs, parsed.IncludeUsage, budget, cancellationToken);
            }
            using (lease)
            {
                var results = new List<OpenAiChoice>(runs.Count);
                foreach (var run in runs)
                {
                    var stream = _completions.Start(lease.Model, run.Prompt, run.Options, budget.Token, run.TopLogProbs);
                    OpenAiLogProbs? logProbs = null;
                    if (run.TopLogProbs is not null)
                    {
                        // The tokens carry the log-probabilities; the stream always ends (the row's result or its failure ends it).
                        logProbs = new OpenAiLogProbs(lease.Model.Tokenizer);
                        await foreach (var token in stream.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                            logProbs.Add(token);
                    }
                    var result = await _completions.EndAsync(run.Index, stream, budget, cancellationToken).ConfigureAwait(false);
                    results.Add(run.Finish(result, logProbs));
                }
                return new OpenAiJson(w => OpenAiObjects.Completion(w, route, id, created, parsed.Model, results));
            }
        }
        finally
        {
            if (owned) budget.Dispose();
        }
    }

    /// <summary>The synchronous limit, then <see cref="OpenAiRequest.Check"/> (the engine's validation and the context-window rule).</summary>
    private static OpenAiError? Check(OpenAiRequest request, GenerationOptions options, int promptTokens, int window, CompletionsOptions limits)
    {
        if (options.MaxNewTokens > limits.MaxNewTokens)
        {
            return OpenAiError.Invalid(request.MaxTokensParam,
                $"{request.MaxTokensParam} is {options.MaxNewTokens}, but a synchronous completion generates at most {limits.MaxNewTokens} tokens here. Longer work: POST /api/jobs.");
        }
        return request.Check(options, promptTokens, window, int.MaxValue);
    }

    private static OpenAiError UnknownModel(string id, string? param) =>
        OpenAiError.NotFound($"The model '{id}' does not exist or you do not have access to it. GET /v1/models lists the model this app serves.", param, "model_not_found");
}

/// <summary>One choice to generate: its index, prompt, options, and whether its usage counts the prompt.</summary>
/// <param name="TopLogProbs">Alternatives per token whose log-probabilities to return; null for none.</param>
internal sealed record OpenAiRun(int Index, string Prompt, GenerationOptions Options, bool CountsPrompt, int? TopLogProbs = null)
{
    public OpenAiChoice Finish(PromptResult result, OpenAiLogProbs? logProbs = null) =>
        new(Index, result.GeneratedText, OpenAiObjects.FinishReason(result.FinishReason), result.InputTokens, result.OutputTokens, CountsPrompt,
            logProbs?.Tokens);
}
