using System.Text;
using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Inference.Tokenization;

namespace Serverless.Jobs.OpenAi;

/// <summary>One generated token's log-probabilities as OpenAI shows them: its text, its log-probability, the most
/// likely alternatives (text, log-probability) and where its text starts in the completion's text.</summary>
internal sealed record OpenAiTokenLogProb(string Token, float LogProb, IReadOnlyList<(string Token, float LogProb)> Top, int TextOffset);

/// <summary>
/// Collects a choice's <see cref="OpenAiTokenLogProb"/>s from its streamed tokens (<see cref="StreamedToken.LogProbs"/>)
/// and writes them in the two shapes OpenAI has: chat's <c>{"content": [{"token", "logprob", "bytes", "top_logprobs"}]}</c>
/// and completions' <c>{"tokens", "token_logprobs", "top_logprobs", "text_offset"}</c>.
/// </summary>
/// <remarks>A token's text is its vocabulary piece with SentencePiece's ▁ as a space (the first token's leading space
/// is the one the decoded text drops); end-of-sequence is left out, as OpenAI leaves its own end token out. A
/// log-probability of negative infinity (a token the processors banned) is written as -9999, OpenAI's floor.</remarks>
internal sealed class OpenAiLogProbs(T5Tokenizer tokenizer)
{
    private const float Floor = -9999f;
    private readonly List<OpenAiTokenLogProb> _tokens = [];
    private int _textLength;
    private int _written;

    public IReadOnlyList<OpenAiTokenLogProb> Tokens => _tokens;

    /// <summary>Adds the token's entry (none for end-of-sequence or a token without log-probabilities).</summary>
    public void Add(StreamedToken token)
    {
        var offset = _textLength;
        _textLength += token.Text.Length;
        if (token.LogProbs is not { } step || token.Id == tokenizer.EosId)
            return;
        _tokens.Add(new OpenAiTokenLogProb(TextOf(token.Id), step.Chosen.LogProb, step.Top.Select(t => (TextOf(t.Id), t.LogProb)).ToArray(), offset));
    }

    /// <summary>The entries added since the last call (what a streamed chunk carries).</summary>
    public IReadOnlyList<OpenAiTokenLogProb> TakeNew()
    {
        var taken = _tokens.Skip(_written).ToArray();
        _written = _tokens.Count;
        return taken;
    }

    private string TextOf(int id) =>
        (uint)id < (uint)(tokenizer.VocabularySize + T5Tokenizer.ExtraIdCount) ? tokenizer.IdToPiece(id).Replace('\u2581', ' ') : "";

    /// <summary>Writes <c>"logprobs": …</c> of a choice or chunk: null when none were asked for.</summary>
    public static void Write(Utf8JsonWriter w, OpenAiRoute route, IReadOnlyList<OpenAiTokenLogProb>? tokens)
    {
        if (tokens is null)
        {
            w.WriteNull("logprobs");
            return;
        }
        w.WriteStartObject("logprobs");
        if (route == OpenAiRoute.ChatCompletions)
        {
            w.WriteStartArray("content");
            foreach (var token in tokens)
            {
                w.WriteStartObject();
                WriteToken(w, token.Token, token.LogProb);
                w.WriteStartArray("top_logprobs");
                foreach (var (text, logProb) in token.Top)
                {
                    w.WriteStartObject();
                    WriteToken(w, text, logProb);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNull("refusal");
        }
        else
        {
            w.WriteStartArray("tokens");
            foreach (var token in tokens) w.WriteStringValue(token.Token);
            w.WriteEndArray();
            w.WriteStartArray("token_logprobs");
            foreach (var token in tokens) w.WriteNumberValue(Finite(token.LogProb));
            w.WriteEndArray();
            w.WriteStartArray("top_logprobs");
            foreach (var token in tokens)
            {
                // A JSON object keyed by the token's text: two ids with one text keep the more likely.
                w.WriteStartObject();
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var (text, logProb) in token.Top)
                {
                    if (seen.Add(text)) w.WriteNumber(text, Finite(logProb));
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("text_offset");
            foreach (var token in tokens) w.WriteNumberValue(token.TextOffset);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void WriteToken(Utf8JsonWriter w, string text, float logProb)
    {
        w.WriteString("token", text);
        w.WriteNumber("logprob", Finite(logProb));
        w.WriteStartArray("bytes");
        foreach (var b in Encoding.UTF8.GetBytes(text)) w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    private static float Finite(float logProb) => float.IsFinite(logProb) ? logProb : Floor;
}
