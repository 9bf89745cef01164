using System.Text.Json;
using Microsoft.Extensions.AI;
using Serverless.Inference.Generation;

namespace Serverless.Inference.Chat;

/// <summary>
/// <see cref="ChatOptions"/> as the engine's <see cref="GenerationOptions"/>. The typed options first, in OpenAI's
/// meanings; then <see cref="ChatOptions.AdditionalProperties"/> by their Hugging Face names (the names of
/// <see cref="GenerationParameters.All"/>), which are the engine's own terms and so win over the typed ones.
/// </summary>
internal static class ChatOptionsMapping
{
    public static GenerationOptions ToGenerationOptions(ChatOptions? chat, GenerationOptions baseline)
    {
        if (chat is null)
            return baseline;
        var options = baseline;
        if (chat.MaxOutputTokens is { } maxTokens)
            options = options with { MaxNewTokens = maxTokens };
        if (chat.Temperature is { } temperature)
        {
            // OpenAI's temperature 0 means "always the most likely token" (greedy), and any other temperature samples.
            // Hugging Face keeps the two apart (do_sample) and refuses temperature 0, so 0 turns sampling off instead.
            options = temperature == 0
                ? options with { DoSample = false }
                : options with { DoSample = true, Temperature = temperature };
        }
        if (chat.TopP is { } topP)
            options = options with { TopP = topP };
        if (chat.TopK is { } topK)
            options = options with { TopK = topK };
        if (chat.Seed is { } seed)
        {
            options = seed >= 0 ? options with { Seed = (ulong)seed }
                : throw new ArgumentException($"ChatOptions.Seed must be 0 or more; got {seed}.", nameof(chat));
        }
        if (chat.StopSequences is { Count: > 0 } stops)
            options = options with { StopStrings = [.. stops] };
        // OpenAI's additive penalties, as OpenAI defines them (GenerationOptions.FrequencyPenalty/PresencePenalty); Hugging
        // Face's multiplicative repetition_penalty is AdditionalProperties["repetition_penalty"].
        if (chat.FrequencyPenalty is { } frequency)
            options = options with { FrequencyPenalty = frequency };
        if (chat.PresencePenalty is { } presence)
            options = options with { PresencePenalty = presence };
        return chat.AdditionalProperties is { Count: > 0 } additional ? ApplyAdditional(options, additional) : options;
    }

    private static GenerationOptions ApplyAdditional(GenerationOptions options, AdditionalPropertiesDictionary additional)
    {
        // Keys the table does not know are left alone: AdditionalProperties is shared by every provider and middleware.
        var known = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in additional)
        {
            if (GenerationParameters.TryGet(name, out _))
                known[name] = value;
        }
        if (known.Count == 0)
            return options;
        var errors = new List<string>();
        var parameters = JsonSerializer.SerializeToElement(known);
        options = GenerationParameters.Apply(options, parameters, (name, message) => errors.Add($"AdditionalProperties[\"{name}\"]: {message}"));
        return errors.Count == 0 ? options
            : throw new ArgumentException($"{string.Join(" ", errors)} See GenerationParameters.All for each parameter's type.", "options");
    }

    public static ChatFinishReason? ToChatFinishReason(FinishReason reason) => reason switch
    {
        FinishReason.Eos or FinishReason.Stop => ChatFinishReason.Stop,
        FinishReason.Length => ChatFinishReason.Length,
        _ => null,
    };

    public static UsageDetails ToUsage(GenerationResult result) => new()
    {
        InputTokenCount = result.InputTokens,
        OutputTokenCount = result.OutputTokens,
        TotalTokenCount = result.InputTokens + result.OutputTokens,
    };
}
