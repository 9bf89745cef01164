using System.Text.Json;

namespace Serverless.Jobs.OpenAi;

/// <summary>One finished choice: its index (prompt × n + copy), text, OpenAI finish reason, token counts and, when asked
/// for, its tokens' log-probabilities.</summary>
internal sealed record OpenAiChoice(int Index, string Text, string FinishReason, int PromptTokens, int CompletionTokens, bool CountsPrompt,
    IReadOnlyList<OpenAiTokenLogProb>? LogProbs = null);

/// <summary>
/// OpenAI's response objects, field for field as the official SDKs read them: <c>text_completion</c>,
/// <c>chat.completion</c>, <c>chat.completion.chunk</c>, <c>model</c>, <c>list</c>, and <c>usage</c>.
/// </summary>
internal static class OpenAiObjects
{
    /// <summary>The engine's finish reason in OpenAI's words: end of sequence and a stop string are <c>stop</c>; the token
    /// budget, the request's time budget and a cancellation cut the text short: <c>length</c>.</summary>
    public static string FinishReason(string engine) => engine is "eos" or "stop" ? "stop" : "length";

    public static void Model(Utf8JsonWriter w, string id, long created)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "model");
        w.WriteNumber("created", created);
        w.WriteString("owned_by", "serverless");
        w.WriteEndObject();
    }

    public static void Completion(Utf8JsonWriter w, OpenAiRoute route, string id, long created, string model, IReadOnlyList<OpenAiChoice> choices)
    {
        w.WriteStartObject();
        Head(w, id, route == OpenAiRoute.ChatCompletions ? "chat.completion" : "text_completion", created, model);
        w.WriteStartArray("choices");
        foreach (var choice in choices)
        {
            w.WriteStartObject();
            w.WriteNumber("index", choice.Index);
            if (route == OpenAiRoute.ChatCompletions)
            {
                w.WriteStartObject("message");
                w.WriteString("role", "assistant");
                w.WriteString("content", choice.Text);
                w.WriteNull("refusal");
                w.WriteEndObject();
            }
            else
            {
                w.WriteString("text", choice.Text);
            }
            OpenAiLogProbs.Write(w, route, choice.LogProbs);
            w.WriteString("finish_reason", choice.FinishReason);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        Usage(w, choices);
        w.WriteEndObject();
    }

    /// <summary>A streamed chunk of one choice: a chat delta (<paramref name="role"/> on the first, <paramref name="text"/>
    /// when there is some) or a completion's text; <paramref name="finishReason"/> on the last.</summary>
    public static void Chunk(Utf8JsonWriter w, OpenAiRoute route, string id, long created, string model, int index,
        string? role, string? text, string? finishReason, bool includeUsage, IReadOnlyList<OpenAiTokenLogProb>? logProbs = null)
    {
        w.WriteStartObject();
        Head(w, id, route == OpenAiRoute.ChatCompletions ? "chat.completion.chunk" : "text_completion", created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", index);
        if (route == OpenAiRoute.ChatCompletions)
        {
            w.WriteStartObject("delta");
            if (role is not null) w.WriteString("role", role);
            if (text is not null) w.WriteString("content", text);
            w.WriteEndObject();
        }
        else
        {
            w.WriteString("text", text ?? "");
        }
        OpenAiLogProbs.Write(w, route, logProbs);
        w.WriteString("finish_reason", finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        // With include_usage, every chunk but the last carries "usage": null (OpenAI's documented shape).
        if (includeUsage) w.WriteNull("usage");
        w.WriteEndObject();
    }

    /// <summary>The last chunk of a stream with <c>stream_options.include_usage</c>: no choices, the usage of all.</summary>
    public static void UsageChunk(Utf8JsonWriter w, OpenAiRoute route, string id, long created, string model, IReadOnlyList<OpenAiChoice> choices)
    {
        w.WriteStartObject();
        Head(w, id, route == OpenAiRoute.ChatCompletions ? "chat.completion.chunk" : "text_completion", created, model);
        w.WriteStartArray("choices");
        w.WriteEndArray();
        Usage(w, choices);
        w.WriteEndObject();
    }

    private static void Head(Utf8JsonWriter w, string id, string type, long created, string model)
    {
        w.WriteString("id", id);
        w.WriteString("object", type);
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteNull("system_fingerprint");
    }

    /// <summary>Prompt tokens count each prompt once (not once per choice), as OpenAI counts them.</summary>
    private static void Usage(Utf8JsonWriter w, IReadOnlyList<OpenAiChoice> choices)
    {
        var prompt = choices.Where(c => c.CountsPrompt).Sum(c => c.PromptTokens);
        var completion = choices.Sum(c => c.CompletionTokens);
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", prompt);
        w.WriteNumber("completion_tokens", completion);
        w.WriteNumber("total_tokens", prompt + completion);
        w.WriteEndObject();
    }
}
