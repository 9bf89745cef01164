using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Serverless.Inference.Generation;
using Serverless.Jobs.Http;
using Serverless.Jobs.Models;
using Serverless.Jobs.Specs;
using Serverless.Jobs.Storage;
using Serverless.ModelStore;

namespace Serverless.Jobs.Playground;

/// <summary>
/// <c>POST /api/tokenize</c> with <c>{"inputs": "text"}</c> (or <c>"prompt"</c>): the model's token ids and SentencePiece
/// pieces for the text, <c>&lt;/s&gt;</c> included, as a prompt is counted against the context window; with the window and
/// what the model's files say about it (random weights, generation defaults). Uses the submit's tokenizer (config.json,
/// spiece.model and generation_config.json only: never the whole model). The body limit is the completions' one.
/// </summary>
public sealed class TokenizeApi
{
    private readonly ITokenizerSource _tokenizers;
    private readonly PromptJobsOptions _options;
    private readonly ILogger<TokenizeApi> _logger;

    internal TokenizeApi(ITokenizerSource tokenizers, PromptJobsOptions options, ILogger<TokenizeApi> logger)
    {
        _tokenizers = tokenizers;
        _options = options;
        _logger = logger;
    }

    /// <returns>200 <see cref="TokenizeResponse"/>; 400 naming the bad field; 413 for a body over
    /// <see cref="Completions.CompletionsOptions.MaxRequestBodyBytes"/>; 503 when the model's files cannot be had in time.</returns>
    public async Task<IActionResult> TokenizeAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(_options.HttpTimeBudget);

        var (body, refusal) = await JsonRequestBody.ReadAsync(request, _options.Completions.MaxRequestBodyBytes, instead: "", Invalid, budget.Token)
            .ConfigureAwait(false);
        if (refusal is not null) return refusal;
        var errors = new SpecErrors();
        string? text;
        using (body)
            text = Read(body!.Document.RootElement, errors);
        if (text is null) return Invalid(errors.ToDictionary());

        SubmitModel model;
        try
        {
            model = await _tokenizers.AcquireAsync(budget.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return Unavailable("The model's tokenizer did not load within the request's time budget");
        }
        catch (Exception e) when (e is ModelStoreException || StorageFailure.Is(e, budget.Token))
        {
            _logger.LogError(e, "Could not load the tokenizer for a tokenize request");
            return ModelProblems.For(e, _options.RetryAfterSeconds);
        }

        var ids = model.Tokenizer.Encode(text);
        var defaults = GenerationParameters.All.Where(p => p.InGenerationConfig).ToDictionary(p => p.Name, p => p.ValueOf(model.Defaults));
        var answer = new TokenizeResponse(ids, [.. ids.Select(model.Tokenizer.IdToPiece)], ids.Length, model.ContextWindow,
            new TokenizeModel(model.RandomWeights, defaults));
        return new JobsHttpResult(StatusCodes.Status200OK, answer).WithHeader("Cache-Control", "no-store");
    }

    /// <summary>The text to tokenize, or null with the errors (each naming its field).</summary>
    private static string? Read(JsonElement root, SpecErrors errors)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            errors.Add("body", "Must be a JSON object such as {\"inputs\": \"...\"}.");
            return null;
        }
        if (!JsonTextChecker.Check(root, errors)) return null;

        string? text = null;
        string? field = null;
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name is not ("inputs" or "prompt"))
            {
                errors.Add(property.Name, "Unknown field; the text goes in \"inputs\" (or \"prompt\").");
            }
            else if (field is not null)
            {
                errors.Add("inputs", $"Give either inputs or prompt, not both (got {field} and {property.Name}).");
            }
            else if (property.Value.ValueKind != JsonValueKind.String)
            {
                errors.Add(property.Name, $"Must be a string (got {property.Value.ValueKind.ToString().ToLowerInvariant()}).");
                field = property.Name;
            }
            else
            {
                (field, text) = (property.Name, property.Value.GetString());
            }
        }
        if (field is null) errors.Add("inputs", "Required: the text to tokenize.");
        return errors.Any ? null : text;
    }

    private static JobsHttpResult Invalid(IReadOnlyDictionary<string, string[]> errors) =>
        JobsHttpResult.Problem(400, "Invalid tokenize request", $"The request has {errors.Count} invalid field(s); see errors.", errors);

    private JobsHttpResult Unavailable(string what) =>
        JobsHttpResult.Problem(503, "Service unavailable", what + "; try again shortly.")
            .WithHeader("Retry-After", Math.Max(_options.RetryAfterSeconds, 5).ToString(CultureInfo.InvariantCulture));
}

/// <summary>The 200 body of <c>POST /api/tokenize</c>: <c>ids</c> and <c>pieces</c> side by side (the end-of-sequence token
/// <c>&lt;/s&gt;</c> last), <c>input_tokens</c> (their count, as a prompt's is counted) and the model's <c>context_window</c>.</summary>
internal sealed record TokenizeResponse(int[] Ids, string[] Pieces, int InputTokens, int ContextWindow, TokenizeModel Model);

/// <summary>What the model's files say: <c>random_weights</c> (config.json) and the generation defaults a request that
/// leaves a parameter out gets (generation_config.json over Hugging Face's defaults).</summary>
internal sealed record TokenizeModel(bool RandomWeights, IReadOnlyDictionary<string, object?> GenerationDefaults);
