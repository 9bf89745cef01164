using System.Threading.Channels;
using Serverless.Inference.Generation.Processing;
using Serverless.Inference.Tokenization;

namespace Serverless.Inference.Generation;

/// <summary>
/// Incremental detokenization for streaming: after each token, decodes the whole prefix and emits what is new,
/// holding back a tail that could still grow into a stop string or that ends in an incomplete character.
/// </summary>
/// <remarks>
/// Decoding the prefix (rather than single tokens) keeps SentencePiece's spacing right. What is emitted is always a
/// prefix of the final text, so the pieces concatenate to <see cref="GenerationResult.Text"/>.
/// </remarks>
internal sealed class StreamingText(T5Tokenizer tokenizer, IReadOnlyList<string> stops, ChannelWriter<string> writer) : ITokenObserver
{
    private readonly StopStringMatcher? _stops = stops.Count > 0 ? new StopStringMatcher(stops) : null;
    private int _emitted;
    private string _emittedText = "";

    public void OnToken(int row, ReadOnlySpan<int> generated)
    {
        var text = tokenizer.Decode(generated, skipSpecialTokens: true);
        var safe = text.Length;
        if (_stops is not null)
        {
            if (_stops.TryFind(text, out var cut))
                safe = cut; // the loop ends on this token; Finish sends the rest
            else
                safe -= _stops.HoldBack(text);
        }
        // U+FFFD or a lone high surrogate at the end may still change when the next token arrives.
        while (safe > 0 && (text[safe - 1] == '\uFFFD' || char.IsHighSurrogate(text[safe - 1])))
            safe--;
        Emit(text, safe);
    }

    /// <summary>Sends whatever of the final text has not been sent yet.</summary>
    public void Finish(string finalText) => Emit(finalText, finalText.Length);

    private void Emit(string text, int upTo)
    {
        // Only extend what was already sent; if the decoded prefix changed under us, wait for it to agree again.
        if (upTo <= _emitted || !text.AsSpan(0, _emitted).SequenceEqual(_emittedText.AsSpan(0, _emitted)))
            return;
        var piece = text[_emitted..upTo];
        _emittedText = text[..upTo];
        _emitted = upTo;
        writer.TryWrite(piece);
    }
}
