using System.Threading.Channels;
using Serverless.Inference.Generation.Processing;
using Serverless.Inference.Tokenization;

namespace Serverless.Inference.Generation;

/// <summary>
/// Turns each generated token into a <see cref="StreamedToken"/>: decodes the whole prefix (SentencePiece spacing) and
/// gives the token what became safe to show, holding back a tail that could grow into a stop string or ends in an
/// incomplete character. Text-only streams (<c>model.StreamAsync</c>) are its non-empty texts.
/// </summary>
/// <remarks>The search does not report a row's last token (end of sequence, stop string, length), and beam search reports
/// none: <see cref="Finish"/> sends the tokens not seen yet, the last one carrying whatever of the final text is left.</remarks>
internal sealed class TokenStreamObserver(T5Tokenizer tokenizer, IReadOnlyList<string> stops, ChannelWriter<StreamedToken> writer) : ITokenObserver
{
    private readonly StopStringMatcher? _stops = stops.Count > 0 ? new StopStringMatcher(stops) : null;
    private int _seen;
    private string _emitted = "";

    public void OnToken(int row, ReadOnlySpan<int> generated) => OnToken(row, generated, null);

    public void OnToken(int row, ReadOnlySpan<int> generated, StepLogProbs? logProbs)
    {
        _seen = generated.Length;
        writer.TryWrite(new StreamedToken(generated[^1], Advance(tokenizer.Decode(generated, skipSpecialTokens: true))) { LogProbs = logProbs });
    }

    /// <summary>Sends the tokens of <paramref name="result"/> not reported yet; the texts then add up to its text.</summary>
    public void Finish(GenerationResult result)
    {
        var ids = result.OutputIds;
        var all = ids.ToArray();
        for (var i = _seen; i < ids.Count; i++)
        {
            var piece = i == ids.Count - 1
                ? Rest(result.Text)
                : Advance(tokenizer.Decode(all.AsSpan(0, i + 1), skipSpecialTokens: true));
            writer.TryWrite(new StreamedToken(ids[i], piece) { LogProbs = result.LogProbs is { } steps && i < steps.Count ? steps[i] : null });
        }
        _seen = ids.Count;
    }

    private string Advance(string text)
    {
        var safe = text.Length;
        if (_stops is not null)
            safe = _stops.TryFind(text, out var cut) ? cut : safe - _stops.HoldBack(text);
        // U+FFFD or a lone high surrogate at the end may still change when the next token arrives.
        while (safe > 0 && (text[safe - 1] == '\uFFFD' || char.IsHighSurrogate(text[safe - 1])))
            safe--;
        return Take(text, safe);
    }

    private string Rest(string finalText) => Take(finalText, finalText.Length);

    private string Take(string text, int upTo)
    {
        // Only extend what was already sent; if the decoded prefix changed under us, wait for it to agree again.
        if (upTo <= _emitted.Length || !text.AsSpan(0, _emitted.Length).SequenceEqual(_emitted))
            return "";
        var piece = text[_emitted.Length..upTo];
        _emitted = text[..upTo];
        return piece;
    }
}
