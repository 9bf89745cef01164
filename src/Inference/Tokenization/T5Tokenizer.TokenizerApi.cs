using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Serverless.Inference.Tokenization;

/// <summary>
/// The <see cref="Tokenizer"/> surface of Microsoft.ML.Tokenizers over our SentencePiece implementation: encode to ids
/// or tokens, count, truncate by token count, decode. Every text is normalised (T5's precompiled charsmap, spaces as
/// ▁, a leading ▁), so offsets and indices refer to the normalised text, which the results return; as with
/// <see cref="Encode"/>, <c>&lt;/s&gt;</c> ends every encoding, as a token of no width at the end.
/// </summary>
public sealed partial class T5Tokenizer
{
    /// <summary>The tokens of the normalised text, each with its id, its text and its range in the normalised text.</summary>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var segmentation = Segment(text, textSpan);
        var count = Math.Min(segmentation.Count, settings.MaxTokenCount);
        var tokens = new EncodedToken[count];
        for (var i = 0; i < count; i++)
        {
            var offset = segmentation.Starts[i]..segmentation.Ends[i];
            var value = segmentation.Ids[i] == EosId && i == segmentation.Count - 1
                ? _pieces[EosId]
                : segmentation.Normalized[offset];
            tokens[i] = new EncodedToken(segmentation.Ids[i], value, offset);
        }

        return new EncodeResults<EncodedToken>
        {
            Tokens = tokens,
            NormalizedText = segmentation.Normalized,
            CharsConsumed = count == 0 ? 0 : segmentation.Ends[count - 1],
        };
    }

    /// <summary>The ids of the normalised text, at most <see cref="EncodeSettings.MaxTokenCount"/>.</summary>
    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var segmentation = Segment(text, textSpan);
        var count = Math.Min(segmentation.Count, settings.MaxTokenCount);
        return new EncodeResults<int>
        {
            Tokens = segmentation.Ids.GetRange(0, count),
            NormalizedText = segmentation.Normalized,
            CharsConsumed = count == 0 ? 0 : segmentation.Ends[count - 1],
        };
    }

    /// <summary>The number of tokens <see cref="Encode"/> makes of the text, <c>&lt;/s&gt;</c> included.</summary>
    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings) =>
        CountTokens(text ?? textSpan.ToString());

    /// <summary>
    /// The index in the normalised text that keeps at most <see cref="EncodeSettings.MaxTokenCount"/> tokens: the end of
    /// the last kept token, or with <paramref name="fromEnd"/> the start of the first of the last ones.
    /// </summary>
    protected override int GetIndexByTokenCount(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings, bool fromEnd,
        out string? normalizedText, out int tokenCount)
    {
        var segmentation = Segment(text, textSpan);
        normalizedText = segmentation.Normalized;
        tokenCount = Math.Min(segmentation.Count, settings.MaxTokenCount);
        if (fromEnd)
        {
            return tokenCount == 0 ? segmentation.Normalized.Length : segmentation.Starts[segmentation.Count - tokenCount];
        }

        return tokenCount == 0 ? 0 : segmentation.Ends[tokenCount - 1];
    }

    /// <summary>Decodes as <see cref="Decode(ReadOnlySpan{int}, bool)"/> does, special tokens skipped.</summary>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return Decode(ids as int[] ?? [.. ids]);
    }

    /// <summary>
    /// Decodes into <paramref name="destination"/>; when it is too small, writes the text of the longest prefix of the
    /// ids that fits and returns <see cref="OperationStatus.DestinationTooSmall"/>.
    /// </summary>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var all = ids as int[] ?? [.. ids];
        var text = Decode(all);
        if (text.Length <= destination.Length)
        {
            text.CopyTo(destination);
            idsConsumed = all.Length;
            charsWritten = text.Length;
            return OperationStatus.Done;
        }

        // Each id only appends to the text of the ids before it, so the prefixes that fit form a range: bisect it.
        int low = 0, high = all.Length - 1;
        while (low < high)
        {
            var middle = (low + high + 1) / 2;
            if (Decode(all.AsSpan(0, middle)).Length <= destination.Length)
                low = middle;
            else
                high = middle - 1;
        }

        var fits = Decode(all.AsSpan(0, low));
        fits.CopyTo(destination);
        idsConsumed = low;
        charsWritten = fits.Length;
        return OperationStatus.DestinationTooSmall;
    }

    /// <summary>The ids of a text with the start and end of each in the normalised text (UTF-16 indices).</summary>
    private Segmentation Segment(string? text, ReadOnlySpan<char> textSpan)
    {
        var input = text ?? textSpan.ToString();
        var ids = new List<int>();
        var starts = new List<int>();
        var ends = new List<int>();
        var normalizedText = string.Empty;
        if (input.Length > 0)
        {
            var utf8 = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(input.Length));
            var normalized = ArrayPool<byte>.Shared.Rent(Math.Max(64, input.Length * 2));
            var buffer = ArrayPool<int>.Shared.Rent(16);
            try
            {
                var utf8Length = Encoding.UTF8.GetBytes(input, utf8);
                var normalizedLength = _normalizer.Normalize(utf8.AsSpan(0, utf8Length), ref normalized);
                ReadOnlySpan<byte> bytes = normalized.AsSpan(0, normalizedLength);
                var byteEnds = new List<int>();
                var count = Viterbi(bytes, ref buffer, byteEnds);
                normalizedText = Encoding.UTF8.GetString(bytes);

                // UTF-16 index of every byte offset that starts a character (pieces start and end on characters).
                var charIndex = new int[normalizedLength + 1];
                var chars = 0;
                for (var b = 0; b < normalizedLength;)
                {
                    var length = Math.Min(SentencePieceNormalizer.Utf8CharLength(bytes[b]), normalizedLength - b);
                    charIndex[b] = chars;
                    chars += length == 4 ? 2 : 1;
                    b += length;
                }
                charIndex[normalizedLength] = chars;

                var previous = 0;
                for (var i = 0; i < count; i++)
                {
                    ids.Add(buffer[i]);
                    starts.Add(charIndex[previous]);
                    ends.Add(charIndex[byteEnds[i]]);
                    previous = byteEnds[i];
                }
            }
            finally
            {
                ArrayPool<int>.Shared.Return(buffer);
                ArrayPool<byte>.Shared.Return(normalized);
                ArrayPool<byte>.Shared.Return(utf8);
            }
        }

        if (EosId >= 0)
        {
            ids.Add(EosId);
            starts.Add(normalizedText.Length);
            ends.Add(normalizedText.Length);
        }

        return new Segmentation(ids, starts, ends, normalizedText);
    }

    private sealed record Segmentation(List<int> Ids, List<int> Starts, List<int> Ends, string Normalized)
    {
        public int Count => Ids.Count;
    }
}
