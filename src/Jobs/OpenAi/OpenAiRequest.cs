using System.Text.Json;
using Serverless.Inference.Chat;
using Serverless.Inference.Generation;

namespace Serverless.Jobs.OpenAi;

/// <summary>Which OpenAI route a request came to.</summary>
internal enum OpenAiRoute { Completions, ChatCompletions }

/// <summary>
/// A <c>/v1/completions</c> or <c>/v1/chat/completions</c> request, read and checked: the prompts (a chat's messages
/// through <see cref="ChatTemplate"/>), how many choices each, streaming, and the sampling parameters, mapped onto the
/// engine's <see cref="GenerationOptions"/> by <see cref="OptionsOver"/>. Fields this app cannot honour are refused
/// naming the field; fields that do not change the answer (<c>user</c>, <c>metadata</c>, <c>store</c>…) are ignored.
/// </summary>
internal sealed record OpenAiRequest(
    OpenAiRoute Route,
    string Model,
    IReadOnlyList<string> Prompts,
    int N,
    bool Stream,
    bool IncludeUsage,
    int? MaxTokens,
    double? Temperature,
    double? TopP,
    long? Seed,
    IReadOnlyList<string>? Stop)
{
    /// <summary>OpenAI's own limit on stop sequences.</summary>
    public const int MaxStops = 4;

    /// <summary>The field the prompt came from, for errors about it.</summary>
    public string PromptParam => Route == OpenAiRoute.ChatCompletions ? "messages" : "prompt";

    /// <summary>The field that set the token budget.</summary>
    public string MaxTokensParam { get; init; } = "max_tokens";

    /// <summary><c>frequency_penalty</c> and <c>presence_penalty</c> (-2 to 2): OpenAI's additive penalties, the engine's
    /// <see cref="GenerationOptions.FrequencyPenalty"/> and <see cref="GenerationOptions.PresencePenalty"/>.</summary>
    public double? FrequencyPenalty { get; init; }

    public double? PresencePenalty { get; init; }

    /// <summary><c>min_tokens</c> (vLLM's extension): end-of-sequence is banned until this many tokens (HF's min_new_tokens).</summary>
    public int? MinTokens { get; init; }

    /// <summary>Log-probabilities asked for: null for none, else how many alternatives per token (completions'
    /// <c>logprobs</c>, 0 to 5; chat's <c>top_logprobs</c>, 0 to 20, with <c>logprobs: true</c>).</summary>
    public int? TopLogProbs { get; init; }

    /// <summary>Reads <paramref name="root"/>; throws <see cref="OpenAiRequestException"/> naming the first bad field.</summary>
    /// <param name="modelOptional">A batch line may leave <c>model</c> out (<see cref="Model"/> is then empty): the batch
    /// names its endpoint, and this app serves one model.</param>
    public static OpenAiRequest Read(OpenAiRoute route, JsonElement root, bool modelOptional = false)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new OpenAiRequestException(null, "The request body must be a JSON object.");
        var model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String && m.GetString() is { Length: > 0 } name
            ? name
            : modelOptional && m.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null
                ? ""
                : throw new OpenAiRequestException("model", "You must provide a model parameter (GET /v1/models lists the model this app serves).");

        var prompts = route == OpenAiRoute.ChatCompletions ? [ReadMessages(root)] : ReadPrompts(root);

        // Refused: parameters whose meaning this app cannot give.
        if (Get(root, "echo") is { ValueKind: JsonValueKind.True })
            throw new OpenAiRequestException("echo", "echo is not supported: flan-T5 is an encoder-decoder model, its completion does not continue the prompt.");
        if (Get(root, "suffix") is { ValueKind: JsonValueKind.String } suffix && suffix.GetString()!.Length > 0)
            throw new OpenAiRequestException("suffix", "suffix (insertion) is not supported by this model.");
        if (Get(root, "logit_bias") is { ValueKind: JsonValueKind.Object } bias && bias.EnumerateObject().Any())
            throw new OpenAiRequestException("logit_bias", "logit_bias is not supported.");
        foreach (var tools in new[] { "tools", "functions" })
        {
            if (Get(root, tools) is { ValueKind: JsonValueKind.Array } list && list.GetArrayLength() > 0)
                throw new OpenAiRequestException(tools, $"{tools} (function calling) is not supported: flan-T5 answers text only.");
        }
        if (Get(root, "response_format") is { ValueKind: JsonValueKind.Object } format &&
            !(format.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "text"))
        {
            throw new OpenAiRequestException("response_format", "Only response_format {\"type\": \"text\"} is supported.");
        }
        var topLogProbs = ReadLogProbs(route, root);

        var n = Integer(root, "n", 1, int.MaxValue) ?? 1;
        if (route == OpenAiRoute.Completions && Integer(root, "best_of", 1, int.MaxValue) is { } bestOf && bestOf != n)
            throw new OpenAiRequestException("best_of", $"best_of must equal n ({n}): this app returns every completion it generates.");

        var maxTokensParam = "max_tokens";
        var maxTokens = Integer(root, "max_tokens", 1, int.MaxValue);
        if (route == OpenAiRoute.ChatCompletions && Integer(root, "max_completion_tokens", 1, int.MaxValue) is { } completionTokens)
        {
            maxTokens = completionTokens;
            maxTokensParam = "max_completion_tokens";
        }

        var stream = Get(root, "stream") switch
        {
            null or { ValueKind: JsonValueKind.Null } => false,
            { ValueKind: JsonValueKind.True } => true,
            { ValueKind: JsonValueKind.False } => false,
            _ => throw new OpenAiRequestException("stream", "stream must be true or false."),
        };
        var includeUsage = false;
        if (Get(root, "stream_options") is { ValueKind: JsonValueKind.Object } streamOptions &&
            streamOptions.TryGetProperty("include_usage", out var usage))
        {
            includeUsage = usage.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False or JsonValueKind.Null => false,
                _ => throw new OpenAiRequestException("stream_options.include_usage", "include_usage must be true or false."),
            };
        }

        return new OpenAiRequest(route, model, prompts, n, stream, includeUsage, maxTokens,
            Number(root, "temperature", 0, 2), Number(root, "top_p", 0, 1), Long(root, "seed"), ReadStop(root))
        {
            MaxTokensParam = maxTokensParam,
            FrequencyPenalty = Number(root, "frequency_penalty", -2, 2),
            PresencePenalty = Number(root, "presence_penalty", -2, 2),
            MinTokens = Integer(root, "min_tokens", 0, int.MaxValue),
            TopLogProbs = topLogProbs,
        };
    }

    /// <summary>Completions: <c>logprobs</c> is the number of alternatives (0 to 5, OpenAI's limit). Chat: <c>logprobs</c>
    /// true turns them on and <c>top_logprobs</c> (0 to 20) is the number of alternatives, refused without it.</summary>
    private static int? ReadLogProbs(OpenAiRoute route, JsonElement root)
    {
        if (route == OpenAiRoute.Completions)
            return Integer(root, "logprobs", 0, 5);
        var on = Get(root, "logprobs") switch
        {
            null or { ValueKind: JsonValueKind.Null or JsonValueKind.False } => false,
            { ValueKind: JsonValueKind.True } => true,
            _ => throw new OpenAiRequestException("logprobs", "logprobs must be true or false."),
        };
        var top = Integer(root, "top_logprobs", 0, TokenObserver.MaxTopLogProbs);
        if (top is not null && !on)
            throw new OpenAiRequestException("top_logprobs", "top_logprobs needs logprobs: true.");
        return on ? top ?? 0 : null;
    }

    /// <summary>
    /// The engine's validation (the first bad parameter, under its OpenAI name) and the context-window rule: prompt tokens
    /// plus the token budget must fit the model's window (OpenAI's rule; flan-T5's decoder has its own positions, but a
    /// client sizing requests for an OpenAI model expects this one). Log-probabilities need greedy search or sampling.
    /// </summary>
    /// <returns>The 400, or null when the request can run.</returns>
    public OpenAiError? Check(GenerationOptions options, int promptTokens, int window, int maxNewTokensCeiling)
    {
        if (options.Validate(maxNewTokensCeiling) is { Count: > 0 } errors)
            return OpenAiError.Invalid(ParamOf(errors[0].Parameter), $"{ParamOf(errors[0].Parameter)}: {errors[0].Message}");
        if (TopLogProbs is not null && options.NumBeams > 1)
        {
            return OpenAiError.Invalid("logprobs",
                $"Log-probabilities need greedy search or sampling, but this model's generation_config.json sets num_beams {options.NumBeams}; send a temperature.");
        }
        if (promptTokens + options.MaxNewTokens > window)
        {
            var what = Route == OpenAiRoute.ChatCompletions ? "messages" : "prompt";
            return OpenAiError.Invalid(PromptParam,
                $"This model's maximum context length (its context window) is {window} tokens. However, you requested {promptTokens + options.MaxNewTokens} tokens ({promptTokens} in the {what}, {options.MaxNewTokens} in the completion). Please reduce the length of the {what} or completion.",
                "context_length_exceeded");
        }
        return null;
    }

    private string ParamOf(string engineName) => engineName switch
    {
        "max_new_tokens" => MaxTokensParam,
        "min_new_tokens" => "min_tokens",
        "stop_strings" => "stop",
        _ => engineName,
    };

    /// <summary>The engine's options for choice <paramref name="choice"/> (0 to n-1) over the model's defaults:
    /// <c>temperature</c> 0 (or <c>top_p</c> 0) is greedy search, above 0 samples over the whole vocabulary (OpenAI has
    /// no top-k) at that temperature and <c>top_p</c>; unset keeps the model's <c>generation_config.json</c> (greedy
    /// for flan-T5). Choice i of a seeded request uses seed + i, so n choices differ yet repeat.</summary>
    public GenerationOptions OptionsOver(GenerationOptions defaults, int defaultMaxTokens, int choice)
    {
        var options = defaults with { MaxNewTokens = MaxTokens ?? defaultMaxTokens };
        if (Stop is not null) options = options with { StopStrings = Stop };
        if (Temperature == 0 || TopP == 0)
        {
            options = options with { DoSample = false };
        }
        else if (Temperature is not null || TopP is not null)
        {
            options = options with
            {
                DoSample = true,
                Temperature = Temperature ?? 1.0,
                TopP = TopP ?? 1.0,
                TopK = 0,
                NumBeams = 1,
            };
        }
        if (Seed is { } seed) options = options with { Seed = unchecked((ulong)(seed + choice)) };
        if (FrequencyPenalty is { } frequency) options = options with { FrequencyPenalty = frequency };
        if (PresencePenalty is { } presence) options = options with { PresencePenalty = presence };
        if (MinTokens is { } minTokens) options = options with { MinNewTokens = minTokens };
        return options;
    }

    private static string ReadMessages(JsonElement root)
    {
        if (Get(root, "messages") is not { ValueKind: JsonValueKind.Array } messages || messages.GetArrayLength() == 0)
            throw new OpenAiRequestException("messages", "messages must be a non-empty array of {\"role\", \"content\"} objects.");
        var turns = new List<ChatTurn>();
        var i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var at = $"messages[{i}]";
            if (message.ValueKind != JsonValueKind.Object || !message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                throw new OpenAiRequestException(at, $"{at} must be an object with a string role.");
            turns.Add(new ChatTurn(role.GetString()!, ReadContent(message, at)));
            i++;
        }
        try
        {
            return ChatTemplate.Format(turns);
        }
        catch (ArgumentException e)
        {
            throw new OpenAiRequestException("messages", e.Message.Split(" (Parameter", 2)[0]);
        }
    }

    /// <summary>A message's text: a string, or an array of text parts joined (other part types are refused).</summary>
    private static string ReadContent(JsonElement message, string at)
    {
        if (!message.TryGetProperty("content", out var content)) throw new OpenAiRequestException($"{at}.content", $"{at}.content is required.");
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                return content.GetString()!;
            case JsonValueKind.Array:
                var parts = new List<string>();
                var j = 0;
                foreach (var part in content.EnumerateArray())
                {
                    var partAt = $"{at}.content[{j++}]";
                    if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.GetString() != "text" ||
                        !part.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                    {
                        throw new OpenAiRequestException(partAt, $"{partAt}: only text parts ({{\"type\": \"text\", \"text\": \"...\"}}) are supported; flan-T5 reads text only.");
                    }
                    parts.Add(text.GetString()!);
                }
                return string.Concat(parts);
            default:
                throw new OpenAiRequestException($"{at}.content", $"{at}.content must be a string or an array of text parts.");
        }
    }

    private static IReadOnlyList<string> ReadPrompts(JsonElement root)
    {
        switch (Get(root, "prompt"))
        {
            case { ValueKind: JsonValueKind.String } one:
                return [one.GetString()!];
            case { ValueKind: JsonValueKind.Array } many when many.GetArrayLength() > 0 && many.EnumerateArray().All(p => p.ValueKind == JsonValueKind.String):
                return many.EnumerateArray().Select(p => p.GetString()!).ToArray();
            case null or { ValueKind: JsonValueKind.Null }:
                throw new OpenAiRequestException("prompt", "prompt is required: a string or an array of strings.");
            default:
                throw new OpenAiRequestException("prompt", "prompt must be a string or a non-empty array of strings (token arrays are not supported).");
        }
    }

    private static IReadOnlyList<string>? ReadStop(JsonElement root)
    {
        IReadOnlyList<string> stops = Get(root, "stop") switch
        {
            null or { ValueKind: JsonValueKind.Null } => [],
            { ValueKind: JsonValueKind.String } one => [one.GetString()!],
            { ValueKind: JsonValueKind.Array } many when many.EnumerateArray().All(s => s.ValueKind == JsonValueKind.String) =>
                many.EnumerateArray().Select(s => s.GetString()!).ToArray(),
            _ => throw new OpenAiRequestException("stop", "stop must be a string or an array of strings."),
        };
        if (stops.Count > MaxStops) throw new OpenAiRequestException("stop", $"stop takes at most {MaxStops} sequences (got {stops.Count}).");
        if (stops.Any(s => s.Length is 0 or > 100)) throw new OpenAiRequestException("stop", "Each stop sequence must be 1 to 100 characters.");
        return stops.Count == 0 ? null : stops;
    }

    private static JsonElement? Get(JsonElement root, string name) => root.TryGetProperty(name, out var value) ? value : null;

    private static double? Number(JsonElement root, string name, double min, double max)
    {
        switch (Get(root, name))
        {
            case null or { ValueKind: JsonValueKind.Null }:
                return null;
            case { ValueKind: JsonValueKind.Number } number when number.GetDouble() is var value && value >= min && value <= max:
                return value;
            default:
                throw new OpenAiRequestException(name, $"{name} must be a number from {min} to {max}.");
        }
    }

    private static int? Integer(JsonElement root, string name, int min, int max)
    {
        switch (Get(root, name))
        {
            case null or { ValueKind: JsonValueKind.Null }:
                return null;
            case { ValueKind: JsonValueKind.Number } number when number.TryGetInt32(out var value) && value >= min && value <= max:
                return value;
            default:
                throw new OpenAiRequestException(name, max == int.MaxValue ? $"{name} must be an integer of at least {min}." : $"{name} must be an integer from {min} to {max}.");
        }
    }

    private static long? Long(JsonElement root, string name)
    {
        switch (Get(root, name))
        {
            case null or { ValueKind: JsonValueKind.Null }:
                return null;
            case { ValueKind: JsonValueKind.Number } number when number.TryGetInt64(out var value):
                return value;
            default:
                throw new OpenAiRequestException(name, $"{name} must be an integer.");
        }
    }
}

/// <summary>An invalid request field: becomes a 400 naming <see cref="Param"/>.</summary>
internal sealed class OpenAiRequestException(string? param, string message, string? code = null) : Exception(message)
{
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    public OpenAiError ToError() => OpenAiError.Invalid(Param, Message, Code);
}
