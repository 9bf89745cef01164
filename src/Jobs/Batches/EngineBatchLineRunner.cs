using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Inference.Chat;
using Serverless.Inference.Generation;
using Serverless.Jobs.Models;

namespace Serverless.Jobs.Batches;

/// <summary>
/// The batch lines on the engine path the jobs use (the same <see cref="IJobModelSource"/> lease: one model in memory),
/// with a minimal OpenAI body → prompt/options mapping: <c>prompt</c> (a string, or an array of one) or <c>messages</c>
/// (through <see cref="ChatTemplate"/>), <c>max_tokens</c>, <c>temperature</c> (0 or absent = greedy), <c>top_p</c>,
/// <c>seed</c>, <c>stop</c>, <c>min_tokens</c> (vLLM's). Each line is a row of the instance's <see cref="Batching.PromptScheduler"/>.
/// </summary>
internal sealed class EngineBatchLineRunner(IJobModelSource models, Batching.PromptScheduler scheduler, BatchOptions options, PromptJobsOptions jobs, TimeProvider time) : IBatchLineRunner
{
    public async Task<BatchLineResult> RunAsync(string endpoint, JsonElement body, CancellationToken cancellationToken)
    {
        var chat = endpoint == "/v1/chat/completions";
        string prompt;
        GenerationOptions? parsed;
        try
        {
            prompt = chat ? ChatPrompt(body) : CompletionPrompt(body);
        }
        catch (ArgumentException e)
        {
            return Invalid(e.Message, e.ParamName);
        }

        using var lease = await models.AcquireAsync(cancellationToken).ConfigureAwait(false);
        var model = lease.Model;
        try
        {
            parsed = Options(body, model.DefaultGenerationOptions);
        }
        catch (ArgumentException e)
        {
            return Invalid(e.Message, e.ParamName);
        }
        if (parsed.Validate(jobs.MaxNewTokensCeiling) is [var first, ..]) return Invalid(first.Message, first.Parameter);

        var tokens = model.Tokenizer.Encode(prompt).Length;
        if (tokens > model.ContextWindow)
        {
            return new BatchLineResult(400, Error($"This prompt has {tokens} tokens; the model's context window is {model.ContextWindow}.", "messages", "context_length_exceeded"),
                new BatchLineError("context_length_exceeded", $"This prompt has {tokens} tokens; the model's context window is {model.ContextWindow}."));
        }

        // A row of the instance's one decode loop, beside the jobs' and completions' rows.
        var result = (await scheduler.Enqueue(model, [prompt], parsed, cancellationToken)[0].ConfigureAwait(false)).Result;
        // Stopped part-way by a cancel: not an answer.
        if (result.FinishReason == FinishReason.Cancelled) throw new OperationCanceledException(cancellationToken);

        var finish = result.FinishReason == FinishReason.Length ? "length" : "stop";
        var created = time.GetUtcNow().ToUnixTimeSeconds();
        var name = body.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : lease.Info?.Prefix ?? "flan-t5";
        var usage = new JsonObject { ["prompt_tokens"] = result.InputTokens, ["completion_tokens"] = result.OutputTokens, ["total_tokens"] = result.InputTokens + result.OutputTokens };
        var choice = chat
            ? new JsonObject { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = result.Text }, ["finish_reason"] = finish, ["logprobs"] = null }
            : new JsonObject { ["index"] = 0, ["text"] = result.Text, ["finish_reason"] = finish, ["logprobs"] = null };
        return new BatchLineResult(200, new JsonObject
        {
            ["id"] = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N"),
            ["object"] = chat ? "chat.completion" : "text_completion",
            ["created"] = created,
            ["model"] = name,
            ["choices"] = new JsonArray(choice),
            ["usage"] = usage,
        });
    }

    private static BatchLineResult Invalid(string message, string? param) =>
        new(400, Error(message, param, "invalid_request"), new BatchLineError("invalid_request", message));

    private static JsonObject Error(string message, string? param, string code) =>
        new() { ["error"] = new JsonObject { ["message"] = message, ["type"] = "invalid_request_error", ["param"] = param, ["code"] = code } };

    private static string CompletionPrompt(JsonElement body)
    {
        if (!body.TryGetProperty("prompt", out var prompt)) throw new ArgumentException("prompt is required.", "prompt");
        return prompt.ValueKind switch
        {
            JsonValueKind.String => prompt.GetString()!,
            JsonValueKind.Array when prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String => prompt[0].GetString()!,
            _ => throw new ArgumentException("prompt must be a string (or an array of one string) in a batch line.", "prompt"),
        };
    }

    private static string ChatPrompt(JsonElement body)
    {
        if (!body.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
            throw new ArgumentException("messages is required: an array of {role, content}.", "messages");
        var turns = new List<ChatTurn>();
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object || !message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String ||
                !message.TryGetProperty("content", out var content))
            {
                throw new ArgumentException($"messages[{turns.Count}] must be an object with role and content.", "messages");
            }

            var text = content.ValueKind switch
            {
                JsonValueKind.String => content.GetString()!,
                JsonValueKind.Array => string.Concat(content.EnumerateArray().Select(p =>
                    p.TryGetProperty("type", out var t) && t.GetString() == "text" && p.TryGetProperty("text", out var x) && x.ValueKind == JsonValueKind.String
                        ? x.GetString()
                        : throw new ArgumentException($"messages[{turns.Count}].content holds a part that is not text.", "messages"))),
                _ => throw new ArgumentException($"messages[{turns.Count}].content must be a string or text parts.", "messages"),
            };
            turns.Add(new ChatTurn(role.GetString()!, text));
        }
        return ChatTemplate.Format(turns);
    }

    private GenerationOptions Options(JsonElement body, GenerationOptions defaults)
    {
        var result = defaults with { MaxNewTokens = options.DefaultMaxTokens };
        foreach (var name in new[] { "max_tokens", "max_completion_tokens" })
        {
            if (body.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null)
                result = result with { MaxNewTokens = v.TryGetInt32(out var n) && n >= 1 ? n : throw new ArgumentException($"{name} must be a positive integer.", name) };
        }
        // vLLM's extension, honoured as there: at least this many tokens before end-of-sequence (HF's min_new_tokens).
        if (body.TryGetProperty("min_tokens", out var min) && min.ValueKind != JsonValueKind.Null)
            result = result with { MinNewTokens = min.TryGetInt32(out var m) && m >= 0 ? m : throw new ArgumentException("min_tokens must be a non-negative integer.", "min_tokens") };
        if (body.TryGetProperty("temperature", out var temperature) && temperature.ValueKind != JsonValueKind.Null)
        {
            var t = temperature.TryGetDouble(out var d) && d is >= 0 and <= 2 ? d : throw new ArgumentException("temperature must be a number from 0 to 2.", "temperature");
            result = t == 0 ? result with { DoSample = false } : result with { DoSample = true, Temperature = t, TopK = 0 };
        }
        if (body.TryGetProperty("top_p", out var topP) && topP.ValueKind != JsonValueKind.Null)
            result = result with { TopP = topP.TryGetDouble(out var p) && p is > 0 and <= 1 ? p : throw new ArgumentException("top_p must be a number in (0, 1].", "top_p") };
        if (body.TryGetProperty("seed", out var seed) && seed.ValueKind != JsonValueKind.Null)
            result = result with { Seed = seed.TryGetUInt64(out var s) ? s : throw new ArgumentException("seed must be a non-negative integer.", "seed") };
        if (body.TryGetProperty("stop", out var stop) && stop.ValueKind != JsonValueKind.Null)
        {
            result = result with
            {
                StopStrings = stop.ValueKind switch
                {
                    JsonValueKind.String => [stop.GetString()!],
                    JsonValueKind.Array when stop.EnumerateArray().All(s => s.ValueKind == JsonValueKind.String) => stop.EnumerateArray().Select(s => s.GetString()!).ToList(),
                    _ => throw new ArgumentException("stop must be a string or an array of strings.", "stop"),
                },
            };
        }
        return result;
    }
}
