using System.Diagnostics;
using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>One prompt ready for the encoder: its ids after truncation and what tokenizing it cost.</summary>
internal sealed record PreparedPrompt(int[] Ids, int TokensTruncated, TimeSpan Tokenize);

/// <summary>Prompts as text (tokenized here) or as ids (used as given), checked against the context window.</summary>
internal abstract class PromptSource
{
    public abstract int Count { get; }

    public static PromptSource FromText(IReadOnlyList<string> prompts) => new TextSource(prompts);
    public static PromptSource FromIds(IReadOnlyList<int[]> ids) => new IdsSource(ids);

    /// <summary>Tokenizes (if needed) and applies the truncation policy.</summary>
    /// <exception cref="PromptTooLongException">A prompt is longer than the context window and truncation is off.</exception>
    public PreparedPrompt Prepare(T5Model model, int index, Truncation truncation)
    {
        var start = Stopwatch.GetTimestamp();
        var ids = GetIds(model, index);
        var tokenize = Stopwatch.GetElapsedTime(start);
        if (ids.Length == 0)
            throw new ArgumentException($"Prompt {index} has no tokens; pass at least </s> (id {model.Config.EosTokenId}).");
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)model.Config.VocabSize)
                throw new ArgumentException($"Prompt {index} holds token id {id}, outside the model's vocabulary [0, {model.Config.VocabSize}).");
        }

        var window = model.ContextWindow;
        if (ids.Length <= window)
            return new PreparedPrompt(ids, 0, tokenize);
        var dropped = ids.Length - window;
        return truncation switch
        {
            // Keep the first window-1 tokens and end with </s>, as the tokenizer would have.
            Truncation.KeepStart => new PreparedPrompt([.. ids.AsSpan(0, window - 1), model.Config.EosTokenId], dropped, tokenize),
            Truncation.KeepEnd => new PreparedPrompt(ids[^window..], dropped, tokenize),
            _ => throw new PromptTooLongException(ids.Length, window, index),
        };
    }

    protected abstract int[] GetIds(T5Model model, int index);

    private sealed class TextSource(IReadOnlyList<string> prompts) : PromptSource
    {
        public override int Count => prompts.Count;

        protected override int[] GetIds(T5Model model, int index) =>
            model.Tokenizer.Encode(prompts[index] ?? throw new ArgumentException($"Prompt {index} is null."), addEndOfSentence: true);
    }

    private sealed class IdsSource(IReadOnlyList<int[]> ids) : PromptSource
    {
        public override int Count => ids.Count;

        protected override int[] GetIds(T5Model model, int index) =>
            ids[index] ?? throw new ArgumentException($"Prompt {index} is null.");
    }
}
